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

from firmware.evidence import durable
from firmware.errors import KeyFileError


def _private_dir(directory: Path) -> None:
    """The directory of a private key: created 0700, or an existing real directory that no
    other account can enter (refused otherwise: tighten it by hand, knowing what else is in
    it)."""
    created = durable.lkind(directory) == "missing"
    durable.ensure_dir(directory, 0o700)
    mode = stat.S_IMODE(os.lstat(directory).st_mode)
    if mode & 0o077 and not created:
        raise KeyFileError(f"{directory}: a key directory must not be open to other accounts "
                           f"(mode {mode:04o}); run: chmod 700 {directory}")


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
        """Load the key at ``path``, or create it there: mode 0600, in a directory of mode
        0700, with ``O_EXCL|O_NOFOLLOW`` (never through a symlink, never over a file), written
        atomically."""
        path = Path(path)
        if durable.lkind(path) != "missing":
            return cls.load(path)
        _private_dir(path.parent)
        key = cls.generate()
        pem = key._private.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        durable.create_new(path, pem, durable.SECRET_MODE)
        key.path = path
        return key

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DeviceKey":
        path = Path(path)
        try:
            fd = durable.open_regular(path)
        except durable.NotRegularFileError as exc:
            raise KeyFileError(f"{path}: the device key must be a regular file ({exc.kind})"
                               ) from None
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
            if mode & 0o077:
                raise KeyFileError(f"{path}: device key is readable by others (mode "
                                   f"{mode:04o}); run: chmod 600 {path}")
            with os.fdopen(os.dup(fd), "rb") as f:
                pem = f.read(64 * 1024)
        finally:
            os.close(fd)
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except ValueError as exc:
            raise KeyFileError(f"{path}: not a PEM private key ({exc})") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyFileError(f"{path}: not an Ed25519 key ({type(private).__name__})")
        return cls(private, path)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)
