"""Reading a session's media files: the one place the export opens them.

Everything the export reads from ``sessions/<id>/`` (video, its ``.pts``, audio, signatures,
photos, ``analysis.json``) goes through a :data:`MediaOpener`, so that reading encrypted media
later means swapping this one function (:func:`media_opener` with a key).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from firmware.evidence import durable
from firmware.errors import DualrecError

#: Reads one sealed media file whole and returns its plain bytes.
MediaOpener = Callable[[Path], bytes]


class MediaKeyError(DualrecError, ValueError):
    """A decryption key was given that this firmware cannot use."""


def open_media(path: Path) -> bytes:
    """The bytes of the sealed file at ``path`` (stored in the clear)."""
    with durable.open_reading(path) as f:   # never through a symlink, never a FIFO
        return f.read()


def media_opener(key: Path | None) -> MediaOpener:
    """The opener for a session's media: plain reading without a key; with the insurer's
    private key, each session's ``session-key.json`` is unwrapped and media decrypted."""
    if key is None:
        return open_media
    from firmware.evidence.crypto import MediaDecryptor, load_insurer_private_key
    try:
        private = load_insurer_private_key(key)
    except (OSError, ValueError) as exc:
        raise MediaKeyError(f"--key {key}: {exc}") from None
    return _KeyedDecryptor(MediaDecryptor(private), private)


class _KeyedDecryptor:
    """Session media with the session key; a file sealed after the session under a key of its
    own (the speech check's) with the wrapped key beside it, ``NAME-key.json`` (whichever
    ``*-key.json`` opens it: docs/encryption.md, section 7)."""

    def __init__(self, media, private) -> None:
        self._media, self._private = media, private

    def __call__(self, path: Path) -> bytes:
        from firmware.evidence.crypto import (SESSION_KEY_FILE, WrongKeyError, bound_name,
                                              decrypt_file, read_session_key_file, unwrap)
        try:
            return self._media.open(path)
        except WrongKeyError:
            for doc in sorted(Path(path).parent.glob("*-key.json")):
                if doc.name == SESSION_KEY_FILE:
                    continue
                key = unwrap(read_session_key_file(doc), self._private, where=str(doc))
                try:
                    return decrypt_file(path, key, bound_name(Path(path).name))
                except WrongKeyError:
                    continue
                finally:
                    key.forget()
            raise

    @property
    def problems(self) -> list[str]:
        return self._media.problems

    def close(self) -> None:
        self._media.close()
