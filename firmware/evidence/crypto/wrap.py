"""Wrapping a session key to the insurer's public key, and unwrapping it with the private key.

Two algorithms (docs/encryption.md, "Key wrapping"):

``X25519-HKDF-SHA256-A256GCM``
    an ephemeral X25519 key agreement with the insurer's key; HKDF-SHA256 (salt: ephemeral
    public key || insurer public key, info: ``dualrec-session-key-v1``) gives a one-time
    256-bit key that seals the session key with AES-256-GCM (associated data: the key id).
``RSA-OAEP-SHA256``
    RSA-OAEP with SHA-256 (and MGF1-SHA-256, no label) of the 32 key bytes.

The result is a JSON-able dict, stored as ``sessions/<id>/session-key.json``; it holds nothing
secret, so it is sealed in the chain like any file.
"""
from __future__ import annotations

import base64
import binascii
import os
from typing import Any, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from firmware.evidence.crypto.errors import KeyUnwrapError, WrongKeyError
from firmware.evidence.crypto.insurer_keys import (InsurerPrivateKey, InsurerPublicKey,
                                          check_insurer_key, fingerprint)
from firmware.evidence.crypto.session_key import KEY_SIZE, SessionKey

FORMAT = "dualrec-session-key"
VERSION = 1
X25519 = "X25519-HKDF-SHA256-A256GCM"
RSA_OAEP = "RSA-OAEP-SHA256"
HKDF_INFO = b"dualrec-session-key-v1"
_NONCE_SIZE = 12


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _kek(shared: bytes, ephemeral_public: bytes, insurer_public: bytes) -> bytes:
    """The one-time key-encryption key of an X25519 wrap (32 bytes)."""
    return HKDF(hashes.SHA256(), 32, salt=ephemeral_public + insurer_public,
                info=HKDF_INFO).derive(shared)


def _oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def wrap(session_key: SessionKey, insurer_public_key: InsurerPublicKey) -> dict[str, Any]:
    """The session key sealed to the insurer's public key, as a JSON-able dict."""
    check_insurer_key(insurer_public_key, "the insurer key to wrap to")
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION,
                           "key_id": session_key.key_id_hex,
                           "insurer_key_fingerprint": fingerprint(insurer_public_key)}
    secret = session_key.secret()
    if isinstance(insurer_public_key, X25519PublicKey):
        ephemeral = X25519PrivateKey.generate()
        eph_raw = _raw(ephemeral.public_key())
        kek = _kek(ephemeral.exchange(insurer_public_key), eph_raw, _raw(insurer_public_key))
        nonce = os.urandom(_NONCE_SIZE)
        wrapped = AESGCM(kek).encrypt(nonce, secret, doc["key_id"].encode("ascii"))
        doc.update(algorithm=X25519, ephemeral_public_key=_b64(eph_raw), nonce=_b64(nonce),
                   wrapped_key=_b64(wrapped))
    else:
        doc.update(algorithm=RSA_OAEP,
                   wrapped_key=_b64(insurer_public_key.encrypt(secret, _oaep())))
    return doc


def _field(doc: Mapping[str, Any], name: str, where: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str):
        raise KeyUnwrapError(f"{where}: field {name!r} is missing or not a string")
    return value


def _b64_field(doc: Mapping[str, Any], name: str, where: str, size: int | None = None) -> bytes:
    text = _field(doc, name, where)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnwrapError(f"{where}: field {name!r} is not base64") from None
    if size is not None and len(raw) != size:
        raise KeyUnwrapError(f"{where}: field {name!r} is {len(raw)} bytes, not {size}")
    return raw


def unwrap(wrapped: Mapping[str, Any], insurer_private_key: InsurerPrivateKey, *,
           where: str = "session key") -> SessionKey:
    """The session key, unsealed with the insurer's private key. :class:`WrongKeyError` if
    it was wrapped to another insurer key; :class:`KeyUnwrapError` if the document is
    malformed or was changed. ``where`` names the document in messages (its path)."""
    if not isinstance(wrapped, Mapping):
        raise KeyUnwrapError(f"{where}: a wrapped session key is a JSON object, not "
                             f"{type(wrapped).__name__}")
    if wrapped.get("format") != FORMAT or wrapped.get("version") != VERSION:
        raise KeyUnwrapError(f"{where}: not a {FORMAT} document of version {VERSION} "
                             f"(format {wrapped.get('format')!r}, version "
                             f"{wrapped.get('version')!r})")
    check_insurer_key(insurer_private_key, "the insurer key to unwrap with")
    algorithm = _field(wrapped, "algorithm", where)
    key_id = _field(wrapped, "key_id", where)
    wanted = _field(wrapped, "insurer_key_fingerprint", where)
    public = insurer_private_key.public_key()
    have = fingerprint(public)
    if have != wanted:
        raise WrongKeyError(f"{where}: the session key was wrapped to insurer key {wanted}; "
                            f"the key given is {have}")
    if algorithm == X25519:
        if not isinstance(insurer_private_key, X25519PrivateKey):
            raise WrongKeyError(f"{where}: wrapped with {X25519}, but the key given is RSA")
        eph_raw = _b64_field(wrapped, "ephemeral_public_key", where, 32)
        nonce = _b64_field(wrapped, "nonce", where, _NONCE_SIZE)
        sealed = _b64_field(wrapped, "wrapped_key", where, KEY_SIZE + 16)
        try:
            shared = insurer_private_key.exchange(X25519PublicKey.from_public_bytes(eph_raw))
            secret = AESGCM(_kek(shared, eph_raw, _raw(public))).decrypt(
                nonce, sealed, key_id.encode("ascii"))
        except (InvalidTag, ValueError, UnicodeEncodeError):
            raise KeyUnwrapError(f"{where}: the wrapped key does not open with insurer key "
                                 f"{have}: the document was changed") from None
    elif algorithm == RSA_OAEP:
        if not isinstance(insurer_private_key, rsa.RSAPrivateKey):
            raise WrongKeyError(f"{where}: wrapped with {RSA_OAEP}, but the key given is "
                                "X25519")
        sealed = _b64_field(wrapped, "wrapped_key", where)
        try:
            secret = insurer_private_key.decrypt(sealed, _oaep())
        except ValueError:
            raise KeyUnwrapError(f"{where}: the wrapped key does not open with insurer key "
                                 f"{have}: the document was changed") from None
    else:
        raise KeyUnwrapError(f"{where}: unknown wrapping algorithm {algorithm!r} (this "
                             f"firmware knows {X25519} and {RSA_OAEP})")
    if len(secret) != KEY_SIZE:
        raise KeyUnwrapError(f"{where}: the unwrapped key is {len(secret)} bytes, not "
                             f"{KEY_SIZE}")
    key = SessionKey(secret)
    if key.key_id_hex != key_id:
        key.forget()
        raise KeyUnwrapError(f"{where}: the unwrapped key has id {key.key_id_hex}, the "
                             f"document says {key_id}: the document was changed")
    return key
