"""Encryption at rest: encrypted write (and read back) against plain file I/O of the same bytes.

The writes are what the recorder does: video in ~600 kB segments handed over as ~20 kB frames,
audio in 1920-byte blocks (20 ms of 48 kHz mono), each followed by ``flush()``. Both sides
write to the page cache (no fsync: the fsync at seal time is the same for both). The figure is
the ratio of plain time to encrypted time (1.0 = encryption costs nothing); the absolute
throughput shows the headroom over the recorder's ~0.7 MB/s of media. On a Raspberry Pi 4
(no ARMv8 crypto extensions) AES-GCM runs in software: run this there for that figure.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from firmware.evidence.crypto import EncryptingWriter, SessionKey, decrypt_file

MIB = 1 << 20


def _frames(total: int, piece: int) -> list[bytes]:
    block = os.urandom(4 * MIB)
    return [block[(i * 7919) % (len(block) - piece):][:piece] for i in range(total // piece)]


def _plain(path: Path, pieces: list[bytes], hashed: bool = False) -> None:
    """A plain write; ``hashed``: also SHA-256 each piece, as the spool's PartFile does today
    (the encrypting writer hashes its ciphertext instead, so the hashing moves, not doubles)."""
    h = hashlib.sha256()
    with open(path, "xb") as f:
        for p in pieces:
            f.write(p)
            if hashed:
                h.update(p)
            f.flush()


def _encrypted(path: Path, pieces: list[bytes], key: SessionKey) -> None:
    with open(path, "xb") as f:
        w = EncryptingWriter(f, key, path.name)
        for p in pieces:
            w.write(p)
            w.flush()
        w.finish()


def _best(fn, path: Path, runs: int = 3) -> float:
    """The best of ``runs`` timings of ``fn(path)``; the file is removed after each."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - start)
        path.unlink()
    return min(times)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_encrypted_write_against_plain_write(tmp_path, record_result):
    key = SessionKey.generate()
    figures = {}
    for label, piece in (("video", 20_000), ("audio", 1920)):
        pieces = _frames(128 * MIB if label == "video" else 16 * MIB, piece)
        total = sum(map(len, pieces))
        t_plain = _best(lambda p: _plain(p, pieces), tmp_path / "plain")
        t_hashed = _best(lambda p: _plain(p, pieces, hashed=True), tmp_path / "plain")
        t_enc = _best(lambda p: _encrypted(p, pieces, key), tmp_path / "video-000001.h264")
        mb = total / MIB
        figures.update({f"{label}_mb": round(mb),
                        f"{label}_plain_mb_s": round(mb / t_plain),
                        f"{label}_plain_sha256_mb_s": round(mb / t_hashed),
                        f"{label}_encrypted_mb_s": round(mb / t_enc),
                        f"{label}_ratio": round(t_plain / t_enc, 2),
                        f"{label}_ratio_vs_hashed": round(t_hashed / t_enc, 2)})
    record_result("crypto_write_vs_plain_write", **figures,
                  note="ratio = plain write time / encrypted write time (same bytes, same "
                  "run); ratio_vs_hashed: against a plain write + SHA-256 (today's PartFile)")


def test_decrypt_against_plain_read(tmp_path, record_result):
    key = SessionKey.generate()
    pieces = _frames(128 * MIB, 600_000)
    plain, enc = tmp_path / "plain", tmp_path / "video-000001.h264"
    _plain(plain, pieces)
    _encrypted(enc, pieces, key)
    total = plain.stat().st_size
    t_read = min(_timed(plain.read_bytes) for _ in range(3))
    t_dec = min(_timed(lambda: decrypt_file(enc, key, enc.name)) for _ in range(3))
    assert decrypt_file(enc, key, enc.name) == plain.read_bytes()
    record_result("crypto_decrypt_vs_plain_read", mb=round(total / MIB),
                  plain_mb_s=round(total / MIB / t_read), decrypt_mb_s=round(total / MIB / t_dec),
                  ratio=round(t_read / t_dec, 2))
