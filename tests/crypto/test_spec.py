"""docs/encryption.md is enough to interoperate: a reader and an unwrapper written from the
document alone (raw primitives, none of firmware.evidence.crypto) agree with the firmware, and the
document's test vector decrypts."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from firmware.evidence.crypto import EncryptingWriter, SessionKey, decrypt_file, unwrap, wrap

DOC = Path(__file__).resolve().parents[2] / "docs" / "encryption.md"
VECTOR_KEY = bytes(range(32))
VECTOR_NAME = "audio-000001.wav"
VECTOR_PLAINTEXT = b"dualrec test vector, 40 bytes of text.\n!"
VECTOR = bytes.fromhex(
    "894452450d0a1a0a01010000001030e5fc1414466454de76f1d54ddc097aa0a1"
    "a2a3a4a5a6a79a2c8fc423571105a31aa9edac0050c9f32b50a619d3f2684325"
    "349b76057efb47ec2508546458f1a1c9c55c19ad61c45cae626d6d6a15de9f43"
    "96be05635592f6e4c0f9d24a0ba3e48087a95a87566e16dac076446e4e738944"
    "52452d454e440000000000000028")


def third_party_decrypt(blob: bytes, key: bytes, name: str) -> bytes:
    """A finished file, decrypted following docs/encryption.md section 2."""
    header = blob[:38]
    assert header[:8] == b"\x89DRE\r\n\x1a\n" and header[8:10] == b"\x01\x01"
    chunk_size = struct.unpack(">I", header[10:14])[0]
    assert header[14:30] == hashlib.sha256(b"dualrec-session-key-id-v1\n" + key).digest()[:16]
    prefix = header[30:38]
    assert blob[-16:-8] == b"\x89DRE-END"
    length = struct.unpack(">Q", blob[-8:])[0]
    body = blob[38:-16]
    seg = chunk_size + 16
    pieces = [body[i:i + seg] for i in range(0, len(body), seg)]
    raw_name = name.encode()
    out = []
    for i, piece in enumerate(pieces):
        final = i == len(pieces) - 1
        forms = [(i, 1 if final else 0)] + ([(0xFFFFFFFF, 2)] if i == 0 and not final else [])
        for counter, flags in forms:
            aad = header + struct.pack(">IBH", i, flags, len(raw_name)) + raw_name
            try:
                out.append(AESGCM(key).decrypt(prefix + struct.pack(">I", counter), piece, aad))
                break
            except Exception:
                continue
        else:
            raise AssertionError(f"chunk {i} does not open")
    plain = b"".join(out)
    assert len(plain) == length
    return plain


def third_party_unwrap(doc: dict, private) -> bytes:
    """The session key, unwrapped following docs/encryption.md section 3."""
    if doc["algorithm"] == "RSA-OAEP-SHA256":
        key = private.decrypt(base64.b64decode(doc["wrapped_key"]), padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    else:
        raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
        eph = base64.b64decode(doc["ephemeral_public_key"])
        shared = private.exchange(X25519PublicKey.from_public_bytes(eph))
        kek = HKDF(hashes.SHA256(), 32, salt=eph + private.public_key().public_bytes(*raw),
                   info=b"dualrec-session-key-v1").derive(shared)
        key = AESGCM(kek).decrypt(base64.b64decode(doc["nonce"]),
                                  base64.b64decode(doc["wrapped_key"]),
                                  doc["key_id"].encode("ascii"))
    spki = private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    assert doc["insurer_key_fingerprint"] == hashlib.sha256(spki).hexdigest()[:32]
    assert doc["key_id"] == hashlib.sha256(b"dualrec-session-key-id-v1\n" + key).digest()[
        :16].hex()
    return key


def test_the_documented_vector():
    assert third_party_decrypt(VECTOR, VECTOR_KEY, VECTOR_NAME) == VECTOR_PLAINTEXT
    assert decrypt_file(io.BytesIO(VECTOR), SessionKey(VECTOR_KEY), VECTOR_NAME) == \
        VECTOR_PLAINTEXT
    doc = DOC.read_text(encoding="utf-8")
    hex_in_doc = "".join(line.strip() for line in doc.split("```vector")[1].split("```")[0]
                         .splitlines() if line.strip() and not line.startswith("#"))
    assert bytes.fromhex(hex_in_doc) == VECTOR


@pytest.mark.parametrize("size,patch", [(0, False), (1000, False), (5 * 4096 + 7, True)])
def test_firmware_output_opens_with_the_third_party_reader(session_key, size, patch):
    data = bytearray(os.urandom(size))
    out = io.BytesIO()
    w = EncryptingWriter(out, session_key, "video-000009.h264", chunk_size=4096)
    w.write(bytes(data))
    if patch:
        w.write_at(4, b"size")
        data[4:8] = b"size"
    w.finish()
    assert third_party_decrypt(out.getvalue(), session_key.secret(),
                               "video-000009.h264") == data


@pytest.mark.parametrize("alg", ["x25519", "rsa"])
def test_wrapped_keys_open_with_the_third_party_unwrapper(insurer_keys, alg):
    public, private = insurer_keys[alg]
    key = SessionKey.generate()
    assert third_party_unwrap(wrap(key, public), private) == key.secret()
    assert unwrap(wrap(key, public), private) == key
