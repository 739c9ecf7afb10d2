"""Encrypt and decrypt back: every size around the chunk boundaries, writes cut anywhere."""
from __future__ import annotations

import array
import hashlib
import io
import os
import random

import pytest

from firmware.evidence.crypto import (DecryptingReader, EncryptingWriter, SessionKey, decrypt_file,
                             inspect, is_encrypted)
from firmware.evidence.crypto.media_format import HEADER_SIZE, MAGIC, TAG_SIZE, TRAILER_SIZE

C = 65536


def expected_size(plain: int, chunk: int) -> int:
    chunks = max(1, -(-plain // chunk))
    return HEADER_SIZE + plain + TAG_SIZE * chunks + TRAILER_SIZE


@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, 2 * C, 5 * 1024 * 1024])
@pytest.mark.parametrize("seed", [1, 2])
def test_round_trip_default_chunk(session_key, encrypt, size, seed):
    data = random.Random(size).randbytes(size)
    blob = encrypt(data, session_key, seed=seed)
    assert len(blob) == expected_size(size, C)
    assert blob.startswith(MAGIC)
    assert decrypt_file(io.BytesIO(blob), session_key, "video-000001.h264") == data


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_round_trip_small_chunks_every_size(session_key, encrypt, chunk):
    for size in range(0, 3 * chunk + 3):
        data = os.urandom(size)
        blob = encrypt(data, session_key, "x", chunk_size=chunk, seed=size, max_piece=chunk + 2)
        assert len(blob) == expected_size(size, chunk)
        assert decrypt_file(io.BytesIO(blob), session_key, "x") == data


def test_one_byte_writes_and_one_big_write_give_the_same_plaintext(session_key, encrypt):
    data = os.urandom(3 * 1000 + 17)
    small = encrypt(data, session_key, "a", chunk_size=1000, max_piece=1)
    big = encrypt(data, session_key, "a", chunk_size=1000, max_piece=len(data))
    assert len(small) == len(big)
    assert small != big  # a fresh nonce prefix per file
    for blob in (small, big):
        assert decrypt_file(io.BytesIO(blob), session_key, "a") == data


def test_accepts_any_bytes_like(session_key):
    out = io.BytesIO()
    pcm = array.array("h", range(-500, 500))
    w = EncryptingWriter(out, session_key, "audio-000001.wav", chunk_size=100)
    assert w.write(pcm) == 2000
    w.write(memoryview(b"abc"))
    w.write(bytearray(b"def"))
    w.finish()
    out.seek(0)
    assert decrypt_file(out, session_key, "audio-000001.wav") == pcm.tobytes() + b"abcdef"


def test_context_manager_closes_or_abandons(session_key):
    out = io.BytesIO()
    with EncryptingWriter(out, session_key, "n") as w:
        w.write(b"abc")
    assert out.closed and w.finished
    out = io.BytesIO()
    with pytest.raises(RuntimeError):
        with EncryptingWriter(out, session_key, "n") as w:
            w.write(b"abc")
            raise RuntimeError("the recorder failed")
    assert out.closed and not w.finished


def test_streaming_reader_in_random_pieces(session_key, encrypt):
    data = os.urandom(5 * 1000 + 3)
    blob = encrypt(data, session_key, "p", chunk_size=1000)
    rng = random.Random(7)
    with DecryptingReader(io.BytesIO(blob), session_key, "p") as r:
        got = bytearray()
        while piece := r.read(rng.randint(1, 2500)):
            got += piece
        assert r.read() == b""
        assert r.truncated is False and r.finished and r.chunks_read == 6
    assert bytes(got) == data
    with DecryptingReader(io.BytesIO(blob), session_key, "p") as r:
        assert b"".join(r) == data


def test_real_file_hash_and_inspect(tmp_path, session_key):
    """As the spool uses it: a real file opened "xb"; the running hash is the file's."""
    data = os.urandom(3 * C + 5)
    path = tmp_path / "video-000001.h264.part"
    with open(path, "xb") as f:
        w = EncryptingWriter(f, session_key, "video-000001.h264")
        for i in range(0, len(data), 600_000 // 7):
            w.write(data[i:i + 600_000 // 7])
            w.flush()
        size = w.finish()
        assert w.sha256 is not None
    assert size == path.stat().st_size == expected_size(len(data), C)
    assert w.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert is_encrypted(path)
    report = inspect(path)
    assert (report.finished, report.truncated, report.complete_chunks,
            report.plaintext_length, report.key_id, report.problem) == (
        True, False, 4, len(data), session_key.key_id_hex, None)
    assert "finished" in report.text()
    assert decrypt_file(path, session_key, "video-000001.h264") == data


def test_starts_at_the_current_position_of_the_file_object(session_key):
    out = io.BytesIO()
    out.write(b"prefix")
    w = EncryptingWriter(out, session_key, "n", chunk_size=10)
    w.write(b"0123456789abcdefghij-")
    w.write_at(0, b"X")
    w.finish()
    out.seek(6)
    assert decrypt_file(out, session_key, "n") == b"X123456789abcdefghij-"
    assert out.getvalue().startswith(b"prefix" + MAGIC)


def test_plain_file_is_not_encrypted(tmp_path):
    plain = tmp_path / "p.txt"
    plain.write_bytes(b"hello")
    assert not is_encrypted(plain)


def test_finish_and_close_are_safe_twice(session_key):
    out = io.BytesIO()
    w = EncryptingWriter(out, session_key, "n")
    w.write(b"abc")
    size = w.finish()
    assert w.finish() == size
    assert w.close() == size and w.close() == size
    assert out.closed


def test_session_key_is_its_own_and_forgettable(session_key):
    other = SessionKey.generate()
    assert other != session_key and len(session_key.key_id) == 16
    assert "SessionKey(id=" in repr(session_key) and session_key.secret().hex() not in repr(
        session_key)
    copy = SessionKey(session_key.secret())
    assert copy == session_key
    copy.forget()
    copy.forget()
    assert copy.forgotten and "forgotten" in repr(copy)
