"""The device's Ed25519 evidence-signing key: created once, kept 0600, public half published."""
from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                              Ed25519PublicKey)

from firmware.errors import KeyFileError


def fingerprint(public_raw: bytes) -> str:
    """The short name of a public key used in every record: the first 16 bytes of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:32]


class PublicKey:
    """An Ed25519 public key as the verifier sees it."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise KeyFileError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
        self.raw = raw
        self.fingerprint = fingerprint(raw)
        self._key = Ed25519PublicKey.from_public_bytes(raw)

    @classmethod
    def from_b64(cls, text: str) -> "PublicKey":
        try:
            return cls(base64.b64decode(text, validate=True))
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"not a base64 Ed25519 public key: {exc}") from None

    @property
    def b64(self) -> str:
        return base64.b64encode(self.raw).decode()

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)


class DeviceKey:
    """The private signing key of one unit. Never leaves the unit; never goes in the spool."""

    def __init__(self, private: Ed25519PrivateKey, path: Path | None = None) -> None:
        self._private = private
        self.path = path
        raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                serialization.PublicFormat.Raw)
        self.public = PublicKey(raw)

    @classmethod
    def generate(cls) -> "DeviceKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: str | os.PathLike) -> "DeviceKey":
        """Load the key at ``path``, or create it there (mode 0600, written atomically)."""
        path = Path(path)
        if path.exists():
            return cls.load(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        key = cls.generate()
        pem = key._private.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        key.path = path
        return key

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DeviceKey":
        path = Path(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFileError(f"{path}: device key is readable by others (mode {mode:04o}); "
                               f"run: chmod 600 {path}")
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as exc:
            raise KeyFileError(f"{path}: not a PEM private key ({exc})") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyFileError(f"{path}: not an Ed25519 key ({type(private).__name__})")
        return cls(private, path)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)
