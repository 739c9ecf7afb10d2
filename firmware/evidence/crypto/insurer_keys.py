"""The insurer's key pair: X25519 or RSA, in PEM files. The unit holds only the public half.

Every error is a :class:`~firmware.errors.KeyFileError` naming the file and what to do.
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from firmware.errors import KeyFileError

InsurerPublicKey = Union[X25519PublicKey, rsa.RSAPublicKey]
InsurerPrivateKey = Union[X25519PrivateKey, rsa.RSAPrivateKey]
MIN_RSA_BITS = 2048
ALGORITHMS = ("x25519", "rsa")


def fingerprint(public_key: InsurerPublicKey) -> str:
    """The insurer key's name in ``session-key.json``: the first 32 hex digits of SHA-256 of
    its DER SubjectPublicKeyInfo (``openssl pkey -pubin -outform DER | sha256sum``)."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:32]


def check_insurer_key(key: object, where: str) -> None:
    """Refuse key types and sizes the format does not use."""
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        if key.key_size < MIN_RSA_BITS:
            raise KeyFileError(f"{where}: RSA key of {key.key_size} bits; insurer keys must "
                               f"have at least {MIN_RSA_BITS}")
    elif not isinstance(key, (X25519PublicKey, X25519PrivateKey)):
        raise KeyFileError(f"{where}: a {type(key).__name__}; insurer keys are X25519 or RSA")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such file (the insurer's {what})") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the insurer's {what}: "
                           f"{exc.strerror or exc}") from None


def load_insurer_public_key(path: str | os.PathLike) -> InsurerPublicKey:
    """The insurer's public key from a PEM file: a public key (SubjectPublicKeyInfo) or an
    X.509 certificate carrying one."""
    path = Path(path)
    pem = _read(path, "public key")
    if b"PRIVATE KEY-----" in pem:
        raise KeyFileError(f"{path}: this is a private key; the unit must hold only the "
                           "insurer's PUBLIC key (e.g. insurer-x25519.pub)")
    try:
        if b"-----BEGIN CERTIFICATE-----" in pem:
            key = x509.load_pem_x509_certificate(pem).public_key()
        else:
            key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a PEM public key or certificate ({exc})") from None
    check_insurer_key(key, str(path))
    return key  # type: ignore[return-value]


def load_insurer_private_key(path: str | os.PathLike,
                             password: bytes | None = None) -> InsurerPrivateKey:
    """The insurer's private key from a PEM file (PKCS#8 or traditional), readable by its
    owner only; ``password`` if the PEM is encrypted."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such file (the insurer's private key)") from None
    if mode & 0o077:
        raise KeyFileError(f"{path}: the insurer's private key is readable by others "
                           f"(mode {mode:04o}); run: chmod 600 {path}")
    pem = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except TypeError:
        raise KeyFileError(f"{path}: the private key is encrypted; give its passphrase"
                           if password is None else
                           f"{path}: the private key is not encrypted; give no passphrase") \
            from None
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a usable PEM private key ({exc}); a wrong "
                           "passphrase also shows as this") from None
    check_insurer_key(key, str(path))
    return key  # type: ignore[return-value]


@dataclass(frozen=True)
class InsurerKeyFiles:
    private_path: Path
    public_path: Path
    fingerprint: str
    algorithm: str


def generate_insurer_key(out_dir: str | os.PathLike, algorithm: str = "x25519", *,
                         rsa_bits: int = 3072) -> InsurerKeyFiles:
    """A key pair for development and tests: ``insurer-<algorithm>.key`` (PKCS#8 PEM, mode
    0600) and ``insurer-<algorithm>.pub`` (public PEM) in ``out_dir``. Existing files are
    never overwritten."""
    if algorithm not in ALGORITHMS:
        raise KeyFileError(f"insurer key algorithm {algorithm!r}: use one of "
                           f"{', '.join(ALGORITHMS)}")
    if algorithm == "rsa" and rsa_bits < MIN_RSA_BITS:
        raise KeyFileError(f"RSA key of {rsa_bits} bits: use at least {MIN_RSA_BITS}")
    out = Path(out_dir)
    private_path, public_path = out / f"insurer-{algorithm}.key", out / f"insurer-{algorithm}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} exists already; remove it or choose another --out")
    private: InsurerPrivateKey = (X25519PrivateKey.generate() if algorithm == "x25519" else
                                  rsa.generate_private_key(public_exponent=65537,
                                                           key_size=rsa_bits))
    private_pem = private.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    public = private.public_key()
    public_pem = public.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_new(private_path, private_pem, 0o600)
        _write_new(public_path, public_pem, 0o644)
    except OSError as exc:
        raise KeyFileError(f"{out}: cannot write the insurer key pair: "
                           f"{exc.strerror or exc}") from None
    return InsurerKeyFiles(private_path, public_path, fingerprint(public), algorithm)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (never a moment more readable), fsynced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; the key must be exactly 0600
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
