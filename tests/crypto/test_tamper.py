"""Changed, reordered, dropped, spliced, renamed or foreign: refused, naming where."""
from __future__ import annotations

import io
import os
import zlib

import pytest

from firmware.evidence.crypto import (EncryptingWriter, MediaAuthenticationError, MediaFormatError,
                             SessionKey, TruncatedMediaError, WrongKeyError, decrypt_file)
from firmware.evidence.crypto.media_format import HEADER_SIZE, TAG_SIZE, TRAILER_SIZE

CHUNK = 32
SEG = CHUNK + TAG_SIZE
NAME = "video-000001.h264"


def make(key: SessionKey, data: bytes, *, patch_head: bool = False, name: str = NAME) -> bytes:
    out = io.BytesIO()
    w = EncryptingWriter(out, key, name, chunk_size=CHUNK)
    w.write(data)
    if patch_head:
        w.write_at(3, b"PATCH")  # chunk 0 rewritten in place at finish
    w.finish()
    return out.getvalue()


def decrypt(blob: bytes, key: SessionKey, name: str = NAME) -> bytes:
    return decrypt_file(io.BytesIO(blob), key, name)


def chunk_of(pos: int, blob_len: int) -> int | None:
    """The chunk index a byte position lies in (None: header or end marker)."""
    if HEADER_SIZE <= pos < blob_len - TRAILER_SIZE:
        return (pos - HEADER_SIZE) // SEG
    return None


@pytest.mark.parametrize("patch_head", [False, True])
def test_a_flipped_bit_anywhere_is_refused_naming_the_chunk(session_key, patch_head):
    data = os.urandom(4 * CHUNK + 22)                # 5 chunks, the last one short
    blob = make(session_key, data, patch_head=patch_head)
    assert decrypt(blob, session_key)[3:8] == (b"PATCH" if patch_head else data[3:8])
    for pos in range(len(blob)):
        for bit in (0x01, 0x80):
            bad = bytearray(blob)
            bad[pos] ^= bit
            with pytest.raises((MediaAuthenticationError, MediaFormatError,
                                WrongKeyError)) as info:
                decrypt(bytes(bad), session_key)
            err = info.value
            if pos < 14:        # magic, version, suite, chunk size
                assert isinstance(err, (MediaFormatError, MediaAuthenticationError)), pos
            elif pos < 30:      # key id
                assert isinstance(err, WrongKeyError) and "session key" in str(err)
            elif pos < HEADER_SIZE:   # nonce prefix: no chunk opens
                assert err.chunk == 0 and "chunk 0" in str(err)
            elif chunk_of(pos, len(blob)) is not None:
                index = chunk_of(pos, len(blob))
                assert isinstance(err, MediaAuthenticationError), pos
                assert err.chunk == index and f"chunk {index} " in str(err), (pos, str(err))
                assert err.offset <= pos < err.offset + err.length
            else:               # the end marker
                assert isinstance(err, MediaAuthenticationError) and err.chunk is None
                assert "end marker" in str(err)


def spans(blob: bytes) -> list[bytes]:
    body = blob[HEADER_SIZE:len(blob) - TRAILER_SIZE]
    return [body[i:i + SEG] for i in range(0, len(body), SEG)]


def rebuild(blob: bytes, chunks: list[bytes], trailer: bool = True) -> bytes:
    return (blob[:HEADER_SIZE] + b"".join(chunks)
            + (blob[-TRAILER_SIZE:] if trailer else b""))


def test_swapped_chunks_are_refused(session_key):
    blob = make(session_key, os.urandom(5 * CHUNK))
    c = spans(blob)
    c[1], c[2] = c[2], c[1]
    with pytest.raises(MediaAuthenticationError, match="chunk 1 .*reordered") as info:
        decrypt(rebuild(blob, c), session_key)
    assert info.value.chunk == 1


@pytest.mark.parametrize("trailer", [True, False])
def test_a_dropped_middle_chunk_is_refused(session_key, trailer):
    blob = make(session_key, os.urandom(5 * CHUNK + 3))
    c = spans(blob)
    del c[2]
    with pytest.raises(MediaAuthenticationError, match="chunk 2 ") as info:
        decrypt(rebuild(blob, c, trailer), session_key)
    assert info.value.chunk == 2


def test_a_duplicated_chunk_is_refused(session_key):
    blob = make(session_key, os.urandom(4 * CHUNK + 3))
    c = spans(blob)
    c.insert(2, c[1])
    with pytest.raises(MediaAuthenticationError, match="chunk 2 "):
        decrypt(rebuild(blob, c), session_key)


def test_dropping_the_final_chunk_and_marker_is_reported_as_truncation(session_key):
    data = os.urandom(4 * CHUNK + 5)
    blob = make(session_key, data)
    c = spans(blob)
    with pytest.raises(TruncatedMediaError, match="before its final chunk") as info:
        decrypt(rebuild(blob, c[:-1], trailer=False), session_key)
    assert info.value.plaintext == data[:4 * CHUNK]


def test_dropping_the_final_chunk_keeping_the_marker_is_refused(session_key):
    blob = make(session_key, os.urandom(4 * CHUNK + 5))
    with pytest.raises(MediaAuthenticationError, match="chunk 3 "):
        decrypt(rebuild(blob, spans(blob)[:-1]), session_key)


def test_a_chunk_spliced_in_from_another_file_of_the_session_is_refused(session_key):
    """Same key, same name, same position: the other file's nonce prefix is in its header."""
    a = make(session_key, os.urandom(4 * CHUNK))
    b = make(session_key, os.urandom(4 * CHUNK))
    c = spans(a)
    c[2] = spans(b)[2]
    with pytest.raises(MediaAuthenticationError, match="chunk 2 "):
        decrypt(rebuild(a, c), session_key)


def test_ciphertext_renamed_to_another_name_is_refused(session_key):
    blob = make(session_key, os.urandom(100), name="audio-000001.wav")
    assert decrypt(blob, session_key, "audio-000001.wav")
    with pytest.raises(MediaAuthenticationError, match="not 'audio-000002.wav'") as info:
        decrypt(blob, session_key, "audio-000002.wav")
    assert info.value.chunk == 0


def test_another_sessions_key_is_refused(session_key):
    blob = make(session_key, os.urandom(100))
    other = SessionKey.generate()
    with pytest.raises(WrongKeyError, match=f"session key {session_key.key_id_hex}.*"
                       f"key given is {other.key_id_hex}"):
        decrypt(blob, other)


def test_bytes_appended_after_the_end_marker_are_refused(session_key):
    blob = make(session_key, os.urandom(3 * CHUNK + 7))
    for extra in (b"x", b"y" * 40, os.urandom(3 * SEG)):
        with pytest.raises(MediaAuthenticationError):
            decrypt(blob + extra, session_key)
    with pytest.raises(MediaAuthenticationError, match="appended"):
        decrypt(blob + b"y" * 5, session_key)


def test_a_plain_file_is_not_media(session_key):
    with pytest.raises(MediaFormatError, match="not encrypted dualrec media"):
        decrypt(b"\x00\x00\x00\x01" + os.urandom(200), session_key)


def test_the_ciphertext_reveals_nothing_of_a_known_plaintext(session_key):
    """ID numbers and a repetitive, highly compressible plaintext: no 8-byte piece of it is
    in the file, and the file does not compress (it looks random)."""
    text = "客户 张三 身份证 110101199003077777 投保 终身寿险 ".encode("utf-8")
    data = text * 20000 + bytes(1 << 20)
    out = io.BytesIO()
    w = EncryptingWriter(out, session_key, "people.json")
    w.write(data)
    w.finish()
    blob = out.getvalue()
    windows = {data[i:i + 8] for i in range(0, len(text) + 8)} | {bytes(8)}
    assert not any(win in blob for win in windows)
    assert b"people.json" not in blob
    assert b"110101199003077777" not in blob
    assert len(zlib.compress(blob[HEADER_SIZE:], 9)) > 0.99 * (len(blob) - HEADER_SIZE)
