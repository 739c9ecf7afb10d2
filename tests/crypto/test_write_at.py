"""write_at in the first chunk: the WAV header the audio recorder patches at seal time."""
from __future__ import annotations

import io
import os
import wave

import pytest

from firmware.evidence.crypto import (DecryptingReader, EncryptingWriter, TruncatedMediaError,
                             WriteAtError, WriterClosedError, decrypt_file)
from firmware.unit.recorder.audio import wav_header

RATE = 48000


def test_wav_header_patched_at_seal_time(tmp_path, session_key):
    """What AudioSegmenter does: a header with unknown sizes, ~1 s of blocks, then the real
    header through write_at(0) after the first chunk went to disk."""
    pcm = os.urandom(RATE * 2)                       # 1 s of 16-bit mono
    path = tmp_path / "audio-000001.wav.part"
    with open(path, "xb") as f:
        w = EncryptingWriter(f, session_key, "audio-000001.wav")
        w.write(wav_header(RATE, 1, 0xFFFFFFFF))
        for i in range(0, len(pcm), 1920):           # 20 ms blocks
            w.write(pcm[i:i + 1920])
            w.flush()
        w.write_at(0, wav_header(RATE, 1, len(pcm)))
        w.finish()
    assert w.sha256 is None  # chunk 0 was rewritten in place: hash the file
    plain = decrypt_file(path, session_key, "audio-000001.wav")
    assert plain == wav_header(RATE, 1, len(pcm)) + pcm
    with wave.open(io.BytesIO(plain)) as wav:
        assert (wav.getframerate(), wav.getnframes()) == (RATE, RATE)


def test_write_at_before_the_first_chunk_is_full(session_key):
    out = io.BytesIO()
    w = EncryptingWriter(out, session_key, "n", chunk_size=100)
    w.write(b"A" * 50)
    w.write_at(10, b"BBBB")
    w.write(b"C" * 200)
    w.finish()
    assert w.sha256 is not None  # chunk 0 was written once, already patched
    out.seek(0)
    assert decrypt_file(out, session_key, "n") == b"A" * 10 + b"BBBB" + b"A" * 36 + b"C" * 200


def test_write_at_twice_and_at_the_end_of_the_first_chunk(session_key):
    out = io.BytesIO()
    w = EncryptingWriter(out, session_key, "n", chunk_size=8)
    w.write(b"01234567" * 3)
    w.write_at(0, b"ab")
    w.write_at(6, b"YZ")
    w.write_at(0, b"A")
    w.finish()
    out.seek(0)
    assert decrypt_file(out, session_key, "n") == b"Ab2345YZ" + b"01234567" * 2


@pytest.mark.parametrize("offset,data,written", [
    (8, b"x", 100),      # in the second chunk
    (7, b"xy", 100),     # straddles the end of the first chunk
    (3, b"xy", 4),       # past what was written
    (-1, b"x", 100),
])
def test_write_at_outside_the_first_chunk_is_refused(session_key, offset, data, written):
    w = EncryptingWriter(io.BytesIO(), session_key, "audio.wav", chunk_size=8)
    w.write(b"z" * written)
    with pytest.raises(WriteAtError, match="first chunk") as info:
        w.write_at(offset, data)
    assert isinstance(info.value, ValueError) and "audio.wav" in str(info.value)


def test_use_after_finish_is_refused(session_key):
    w = EncryptingWriter(io.BytesIO(), session_key, "n")
    w.write(b"abc")
    w.finish()
    for call in (lambda: w.write(b"x"), lambda: w.write_at(0, b"x")):
        with pytest.raises(WriterClosedError):
            call()


def test_power_cut_after_the_first_chunk_was_written_keeps_the_unpatched_header(session_key):
    """Before finish, chunk 0 is on disk as first written (placeholder sizes); the patch lives
    only in memory. The cut file still decrypts, up to its last whole chunk."""
    out = io.BytesIO()
    w = EncryptingWriter(out, session_key, "audio-000002.wav", chunk_size=1000)
    head = wav_header(RATE, 1, 0xFFFFFFFF)
    body = os.urandom(3500)
    w.write(head + body)
    w.write_at(0, wav_header(RATE, 1, len(body)))
    w.flush()
    cut = out.getvalue()                              # what reached the disk
    with pytest.raises(TruncatedMediaError, match="truncated after 3 complete chunks") as info:
        decrypt_file(io.BytesIO(cut), session_key, "audio-000002.wav")
    assert info.value.plaintext == (head + body)[:3000] and info.value.chunks == 3
    with DecryptingReader(io.BytesIO(cut), session_key, "audio-000002.wav",
                          allow_truncated=True) as r:
        assert r.read() == (head + body)[:3000]
        assert r.truncated and not r.finished


def test_output_that_cannot_seek(session_key):
    class Pipe(io.RawIOBase):
        def __init__(self):
            self.data = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.data += b
            return len(b)

    pipe = Pipe()
    w = EncryptingWriter(pipe, session_key, "n", chunk_size=4)
    w.write(b"abcd")
    w.write_at(0, b"A")           # chunk 0 still in memory: fine
    w.write(b"efgh")
    with pytest.raises(WriteAtError, match="cannot seek"):
        w.write_at(1, b"B")
    w.finish()
    assert decrypt_file(io.BytesIO(bytes(pipe.data)), session_key, "n") == b"Abcdefgh"
