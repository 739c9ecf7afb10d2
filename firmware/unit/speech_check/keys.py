"""The keys that let the post-session check read a closed session's audio, and nothing else.

A session's media are encrypted to the insurer and the session key is forgotten at SESSION_END
(docs/encryption.md). The check instead reads its own copy of the session's audio, encrypted
as it is written with a *check key* made for that session alone (never the session key). The
check key is stored only wrapped (AES-256-GCM) by the unit-local :class:`LocalKey`, in the
job's ``job.json``, so that a restart can resume the check; when the check ends, the copy, the
wrapped check key and — once no check is pending — the local key itself are deleted (see
docs/encryption.md, section 7).
"""
from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firmware.errors import DualrecError
from firmware.evidence import durable
from firmware.evidence.crypto import SessionKey

KEY_BYTES = 32
NONCE_BYTES = 12
WRAP_CONTEXT = b"dualrec-speech-check-key-v1\n"
BLOB_CONTEXT = b"dualrec-speech-check-blob-v1\n"


class CheckKeyError(DualrecError, ValueError):
    """A check key or a sealed blob cannot be opened (the local key is gone or changed, or
    the bytes were changed); the message names what."""


class LocalKey:
    """The unit-local key-encryption key: 32 random bytes in ``path`` (mode 0600), made when
    the first check key is wrapped, deleted by :meth:`destroy` when no check is pending."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @property
    def exists(self) -> bool:
        return durable.lkind(self.path) != "missing"

    def _secret(self, create: bool) -> bytes:
        if create and not self.exists:
            durable.ensure_dir(self.path.parent)
            try:
                durable.create_new(self.path, os.urandom(KEY_BYTES), durable.SECRET_MODE)
            except FileExistsError:
                pass                                # made at the same moment: use that one
        try:
            secret = durable.read_regular(self.path, KEY_BYTES)
        except FileNotFoundError:
            raise CheckKeyError(f"{self.path}: the unit-local key is gone; the check keys it "
                                "wrapped can no longer be opened") from None
        if len(secret) != KEY_BYTES:
            raise CheckKeyError(f"{self.path}: not a {KEY_BYTES}-byte key")
        return secret

    def wrap(self, key: SessionKey, context: str) -> dict[str, str]:
        """``key`` wrapped for the job ``context`` (a session id)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._secret(create=True)).encrypt(
            nonce, key.secret(), WRAP_CONTEXT + context.encode("utf-8"))
        return {"nonce": _b64(nonce), "wrapped": _b64(sealed), "key_id": key.key_id_hex}

    def unwrap(self, doc: Mapping[str, Any], context: str) -> SessionKey:
        try:
            nonce = base64.b64decode(str(doc["nonce"]), validate=True)
            sealed = base64.b64decode(str(doc["wrapped"]), validate=True)
            secret = AESGCM(self._secret(create=False)).decrypt(
                nonce, sealed, WRAP_CONTEXT + context.encode("utf-8"))
        except (KeyError, ValueError, InvalidTag) as exc:
            raise CheckKeyError(f"the check key of {context} cannot be unwrapped "
                                f"({type(exc).__name__})") from None
        key = SessionKey(secret)
        if key.key_id_hex != doc.get("key_id"):
            key.forget()
            raise CheckKeyError(f"the check key of {context} is not the one its job names")
        return key

    def destroy(self) -> None:
        """Delete the local key (no check key it wrapped can be opened after this)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return
        durable.fsync_dir(self.path.parent)


def seal_blob(key: SessionKey, data: bytes, context: str) -> bytes:
    """``data`` encrypted and authenticated with ``key`` for ``context``: nonce ‖ ciphertext."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + key.cipher().encrypt(nonce, data, BLOB_CONTEXT + context.encode("utf-8"))


def open_blob(key: SessionKey, blob: bytes, context: str) -> bytes:
    try:
        return key.cipher().decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                    BLOB_CONTEXT + context.encode("utf-8"))
    except (InvalidTag, ValueError):
        raise CheckKeyError(f"{context}: sealed with another key, or changed") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
