"""A file cut short — by a power cut while it was written, or later — decrypts up to its last
complete chunk and says it was truncated."""
from __future__ import annotations

import io
import os
import shutil

import pytest

from firmware.evidence.crypto import (DecryptingReader, EncryptingWriter, MediaFormatError,
                             TruncatedMediaError, decrypt_file, inspect)
from firmware.evidence.crypto.media_format import HEADER_SIZE, TAG_SIZE, TRAILER_SIZE

CHUNK = 32
SEG = CHUNK + TAG_SIZE
NAME = "audio-000003.wav"


def make(key, data: bytes, patch_head: bool = False) -> bytes:
    out = io.BytesIO()
    w = EncryptingWriter(out, key, NAME, chunk_size=CHUNK)
    w.write(data)
    if patch_head:
        w.write_at(0, b"RIFF")
    w.finish()
    return out.getvalue()


@pytest.mark.parametrize("patch_head", [False, True])
@pytest.mark.parametrize("size", [0, 5, CHUNK, 3 * CHUNK, 3 * CHUNK + 9])
def test_cut_at_every_length(session_key, size, patch_head):
    data = os.urandom(size)
    blob = make(session_key, data, patch_head and size > 4)
    plain = decrypt_file(io.BytesIO(blob), session_key, NAME)
    final_end = len(blob) - TRAILER_SIZE
    for cut in range(len(blob)):
        part = blob[:cut]
        if cut == 0:
            with pytest.raises(MediaFormatError):
                decrypt_file(io.BytesIO(part), session_key, NAME)
            continue
        if cut >= final_end:   # the final chunk is whole; only (part of) the marker is gone
            assert decrypt_file(io.BytesIO(part), session_key, NAME) == plain
            with DecryptingReader(io.BytesIO(part), session_key, NAME) as r:
                r.read()
                assert r.truncated is False and not r.finished and "complete" in r.status
            continue
        whole = max(0, cut - HEADER_SIZE) // SEG
        with pytest.raises(TruncatedMediaError, match="truncated after") as info:
            decrypt_file(io.BytesIO(part), session_key, NAME)
        assert info.value.chunks == whole, cut
        assert info.value.plaintext == plain[:whole * CHUNK], cut
        assert decrypt_file(io.BytesIO(part), session_key, NAME,
                            allow_truncated=True) == plain[:whole * CHUNK]


def test_streaming_reader_raises_at_the_end_unless_allowed(session_key):
    data = os.urandom(5 * CHUNK)
    cut = make(session_key, data)[:HEADER_SIZE + 2 * SEG + 10]
    r = DecryptingReader(io.BytesIO(cut), session_key, NAME)
    assert r.read(2 * CHUNK) == data[:2 * CHUNK]   # authentic as far as it goes
    with pytest.raises(TruncatedMediaError, match="incomplete chunk 2"):
        r.read()
    with pytest.raises(TruncatedMediaError):     # and it stays failed
        r.read()
    with DecryptingReader(io.BytesIO(cut), session_key, NAME, allow_truncated=True) as r:
        assert r.read() == data[:2 * CHUNK]
        assert r.truncated and r.chunks_read == 2 and "incomplete chunk 2" in r.status


def test_power_cut_while_writing_a_real_file(tmp_path, session_key):
    """The recorder writes and flushes; the power goes: what the kernel had is on disk."""
    data = os.urandom(10 * 65536 + 1234)
    part = tmp_path / f"{NAME}.part"
    f = open(part, "xb")
    w = EncryptingWriter(f, session_key, NAME)
    w.write(data[:7 * 65536 + 500])
    w.flush()
    snapshot = tmp_path / NAME          # recovery renames the .part as it is
    shutil.copyfile(part, snapshot)
    w.write(data[7 * 65536 + 500:])
    w.abandon()                         # the recorder gave up: complete chunks stay
    assert f.closed
    report = inspect(snapshot)
    assert (report.finished, report.truncated, report.complete_chunks,
            report.trailing_bytes) == (False, True, 7, 0)
    assert "TRUNCATED" in report.text()
    with pytest.raises(TruncatedMediaError) as info:
        decrypt_file(snapshot, session_key, NAME)
    assert info.value.plaintext == data[:7 * 65536] and info.value.chunks == 7
    with pytest.raises(TruncatedMediaError) as info:
        decrypt_file(part, session_key, NAME)
    assert info.value.plaintext == data[:10 * 65536]


def test_cut_inside_the_header_holds_nothing(tmp_path, session_key):
    blob = make(session_key, b"abc")
    path = tmp_path / NAME
    path.write_bytes(blob[:20])
    assert inspect(path).chunk_size is None and inspect(path).truncated
    with pytest.raises(TruncatedMediaError, match="no complete chunk") as info:
        decrypt_file(path, session_key, NAME)
    assert info.value.plaintext == b""


def test_inspect_finds_a_cut_finished_file(tmp_path, session_key):
    blob = make(session_key, os.urandom(3 * CHUNK + 9))
    path = tmp_path / NAME
    path.write_bytes(blob[:-TRAILER_SIZE] + blob[-TRAILER_SIZE:][:-1] + b"\x00" + b"\x01")
    report = inspect(path)
    assert report.finished is False and report.truncated  # no valid marker at the end
    path.write_bytes(blob[:HEADER_SIZE] + blob[HEADER_SIZE + SEG:])  # a chunk cut out
    report = inspect(path)
    assert report.finished and report.problem and "records 105 plaintext bytes" in report.problem
