"""Fixtures for encryption at rest: real keys (made per test session), and a helper that
encrypts bytes through the real writer with writes cut at random places."""
from __future__ import annotations

import io
import random

import pytest

from firmware.evidence.crypto import EncryptingWriter, SessionKey, generate_insurer_key
from firmware.evidence.crypto import load_insurer_private_key, load_insurer_public_key


@pytest.fixture
def session_key() -> SessionKey:
    return SessionKey.generate()


def _encrypt(data: bytes, key: SessionKey, name: str = "video-000001.h264", *,
            chunk_size: int = 65536, seed: int = 0, max_piece: int | None = None) -> bytes:
    """The encrypted file for ``data``, written in pieces of random length (``seed``)."""
    rng = random.Random(seed)
    out = io.BytesIO()
    writer = EncryptingWriter(out, key, name, chunk_size=chunk_size)
    pos = 0
    max_piece = max_piece or max(1, chunk_size * 3)
    while pos < len(data):
        n = rng.randint(1, max_piece)
        writer.write(data[pos:pos + n])
        if rng.random() < 0.2:
            writer.flush()
        pos += n
    size = writer.finish()
    blob = out.getvalue()
    assert size == len(blob)
    return blob


@pytest.fixture
def encrypt():
    """``encrypt(data, key, name, chunk_size=, seed=, max_piece=) -> bytes``."""
    return _encrypt


@pytest.fixture(scope="session")
def insurer_keys(tmp_path_factory):
    """X25519 and RSA insurer key pairs made by the real generator: {alg: (public, private)}."""
    out = tmp_path_factory.mktemp("insurer")
    keys = {}
    for alg in ("x25519", "rsa"):
        made = generate_insurer_key(out, alg, rsa_bits=2048)
        keys[alg] = (load_insurer_public_key(made.public_path),
                     load_insurer_private_key(made.private_path))
    return keys
