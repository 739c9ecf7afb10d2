"""The session key: a fresh random AES-256 key per session, held only in the unit's memory.

The unit makes one at session start, wraps it to the insurer's public key (the wrapped form is
sealed as ``session-key.json``), encrypts every media file of the session with it, and forgets
it at session end. Nothing writes the plain key to disk, so after the session the unit cannot
read back what it recorded; only the insurer's private key can unwrap it.
"""
from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firmware.evidence.crypto.errors import KeyForgottenError, WrongKeyError
from firmware.evidence.crypto.media_format import KEY_ID_SIZE

KEY_SIZE = 32                                  #: bytes (AES-256)
KEY_ID_CONTEXT = b"dualrec-session-key-id-v1\n"


def key_id_of(secret: bytes) -> bytes:
    """The public 16-byte id of a session key: SHA-256("dualrec-session-key-id-v1\\n" || key),
    first 16 bytes. It names the key in file headers without revealing it."""
    return hashlib.sha256(KEY_ID_CONTEXT + bytes(secret)).digest()[:KEY_ID_SIZE]


class SessionKey:
    """A 256-bit AES-GCM key for the media of one session.

    :meth:`forget` overwrites the key bytes this object holds and makes it unusable. Python may
    still have copies in freed memory (and each live cipher object keeps one until it is
    dropped); forgetting is best effort against a later memory dump, the real protection is
    that the key never reaches the disk.
    """

    __slots__ = ("_secret", "key_id", "_forgotten")

    def __init__(self, secret: bytes | bytearray) -> None:
        if len(secret) != KEY_SIZE:
            raise WrongKeyError(f"a session key is {KEY_SIZE} bytes, got {len(secret)}")
        self._secret = bytearray(secret)
        self.key_id: bytes = key_id_of(self._secret)
        self._forgotten = False

    @classmethod
    def generate(cls) -> "SessionKey":
        """A new key from the operating system's CSPRNG."""
        return cls(os.urandom(KEY_SIZE))

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()

    @property
    def forgotten(self) -> bool:
        return self._forgotten

    def _check(self) -> None:
        if self._forgotten:
            raise KeyForgottenError(f"session key {self.key_id_hex} was forgotten at the end "
                                    "of its session; only the insurer can unwrap it now")

    def cipher(self) -> AESGCM:
        """An AES-256-GCM cipher with this key (each holds a copy of the key: drop it when
        done)."""
        self._check()
        return AESGCM(bytes(self._secret))

    def secret(self) -> bytes:
        """The raw 32 bytes, for wrapping them to the insurer only."""
        self._check()
        return bytes(self._secret)

    def forget(self) -> None:
        """Overwrite and drop the key; every later use raises :class:`KeyForgottenError`.
        Safe twice."""
        for i in range(len(self._secret)):
            self._secret[i] = 0
        self._forgotten = True

    def __enter__(self) -> "SessionKey":
        return self

    def __exit__(self, *exc) -> None:
        self.forget()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionKey):
            return NotImplemented
        return (not self._forgotten and not other._forgotten
                and hmac.compare_digest(bytes(self._secret), bytes(other._secret)))

    __hash__ = None  # type: ignore[assignment]  # mutable (forget): not a dict key

    def __repr__(self) -> str:
        state = ", forgotten" if self._forgotten else ""
        return f"SessionKey(id={self.key_id_hex}{state})"

    def __reduce__(self):
        raise TypeError("a SessionKey is never pickled: it must not leave memory unwrapped")
