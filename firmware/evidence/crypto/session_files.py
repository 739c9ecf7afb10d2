"""The encrypted files of a session directory: ``session-key.json`` and reading media for
review with the insurer's private key (what ``dualrec export --key`` needs)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from firmware.evidence.crypto.errors import KeyUnwrapError, MediaFormatError, TruncatedMediaError
from firmware.evidence.crypto.insurer_keys import InsurerPrivateKey
from firmware.evidence.crypto.layout import is_encrypted
from firmware.evidence.crypto.media_format import bound_name
from firmware.evidence.crypto.reader import decrypt_file
from firmware.evidence.crypto.session_key import SessionKey
from firmware.evidence.crypto.wrap import unwrap

#: the wrapped session key, in the session's directory, sealed like any file (not encrypted)
SESSION_KEY_FILE = "session-key.json"


def session_key_json(wrapped: dict[str, Any]) -> bytes:
    """The bytes of ``session-key.json`` for a :func:`~firmware.evidence.crypto.wrap.wrap` result."""
    return (json.dumps(wrapped, indent=2, sort_keys=True) + "\n").encode("utf-8")


def read_session_key_file(path: str | Path) -> dict[str, Any]:
    """The wrapped session key stored at ``path``; :class:`KeyUnwrapError` names the file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyUnwrapError(f"{path}: no such file (the session's wrapped key)") from None
    except (OSError, ValueError) as exc:
        raise KeyUnwrapError(f"{path}: not a readable session key document ({exc})") from None
    if not isinstance(doc, dict):
        raise KeyUnwrapError(f"{path}: a session key document is a JSON object")
    return doc


class MediaDecryptor:
    """Reads sealed session files for review, decrypting those that are encrypted.

    :meth:`open` has the shape of the export's ``MediaOpener`` (a path in, plain bytes out).
    Each session's key is unwrapped once from its ``session-key.json`` and forgotten at
    :meth:`close`. A file cut by a power cut gives its complete chunks and a line in
    :attr:`problems` (unless ``allow_truncated`` is False: then it raises
    :class:`TruncatedMediaError`). Files stored in the clear (``session-key.json`` itself, or
    a session recorded without encryption) are returned as they are.
    """

    def __init__(self, insurer_private_key: InsurerPrivateKey, *,
                 allow_truncated: bool = True) -> None:
        self._private = insurer_private_key
        self._keys: dict[Path, SessionKey | None] = {}
        self.allow_truncated = allow_truncated
        self.problems: list[str] = []

    def session_key(self, session_dir: Path) -> SessionKey | None:
        """The unwrapped key of the session in ``session_dir``; None if it has no
        ``session-key.json`` (recorded unencrypted)."""
        session_dir = Path(session_dir)
        if session_dir not in self._keys:
            doc_path = session_dir / SESSION_KEY_FILE
            self._keys[session_dir] = (unwrap(read_session_key_file(doc_path), self._private,
                                              where=str(doc_path))
                                       if doc_path.exists() else None)
        return self._keys[session_dir]

    def open(self, path: Path) -> bytes:
        """The plain bytes of the sealed file at ``path``."""
        path = Path(path)
        if path.name == SESSION_KEY_FILE or not is_encrypted(path):
            return path.read_bytes()
        key = self.session_key(path.parent)
        if key is None:
            raise MediaFormatError(f"{path} is encrypted but its session has no "
                                   f"{SESSION_KEY_FILE}: the key to read it is missing")
        try:
            return decrypt_file(path, key, bound_name(path.name))
        except TruncatedMediaError as exc:
            if not self.allow_truncated:
                raise
            self.problems.append(str(exc))
            return exc.plaintext

    __call__ = open

    def close(self) -> None:
        """Forget every unwrapped session key. Safe twice."""
        for key in self._keys.values():
            if key is not None:
                key.forget()
        self._keys.clear()

    def __enter__(self) -> "MediaDecryptor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
