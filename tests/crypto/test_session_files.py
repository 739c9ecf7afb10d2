"""A session sealed with encrypted media: the chain verifies without keys; the insurer reads it."""
from __future__ import annotations

import io
import json
import os

import pytest

from firmware.evidence.crypto import (SESSION_KEY_FILE, EncryptingWriter, KeyForgottenError,
                             MediaDecryptor, MediaFormatError, SessionKey, TruncatedMediaError,
                             WrongKeyError, bound_name, decrypt_file, read_session_key_file,
                             session_key_json, wrap)
from firmware.evidence.crypto.errors import KeyUnwrapError
from firmware.evidence.store import Evidence
from firmware.evidence.verify import verify_path


def encrypted(key: SessionKey, name: str, data: bytes, *, finish: bool = True) -> bytes:
    out = io.BytesIO()
    w = EncryptingWriter(out, key, name, chunk_size=1000)
    w.write(data)
    if finish:
        w.finish()
    else:
        w.flush()
    return out.getvalue()


def test_sealed_encrypted_session_verifies_and_the_insurer_reads_it(tmp_path, device_key, clock,
                                                                     insurer_keys):
    public, private = insurer_keys["x25519"]
    video, people = os.urandom(5000), json.dumps({"id_no": "110101199003077777"}).encode()
    with Evidence.open(tmp_path / "spool", device_key, clock) as ev:
        sid = ev.start_session()
        key = SessionKey.generate()
        ev.seal_bytes(sid, SESSION_KEY_FILE, session_key_json(wrap(key, public)),
                      {"stream": "session_key"})
        ev.seal_bytes(sid, "video-000001.h264", encrypted(key, "video-000001.h264", video),
                      {"stream": "video"})
        ev.seal_bytes(sid, "people.json", encrypted(key, "people.json", people),
                      {"stream": "people"})
        key.forget()                                  # session end: the unit cannot read back
        ev.end_session(sid)
        sealed = ev.spool.session_dir(sid) / "people.json"
        with pytest.raises(KeyForgottenError):
            decrypt_file(sealed, key, "people.json")
        with pytest.raises(KeyForgottenError):
            EncryptingWriter(io.BytesIO(), key, "late.bin")
    assert verify_path(tmp_path / "spool").ok         # the chain covers ciphertext; no key
    session = tmp_path / "spool" / "sessions" / sid
    assert b"110101199003077777" not in b"".join(p.read_bytes() for p in session.iterdir())
    with MediaDecryptor(private) as dec:
        assert dec.open(session / "video-000001.h264") == video
        assert dec(session / "people.json") == people
        assert json.loads(dec.open(session / SESSION_KEY_FILE))["key_id"]
        assert dec.problems == []
    with pytest.raises(WrongKeyError):
        MediaDecryptor(insurer_keys["rsa"][1]).open(session / "video-000001.h264")


def test_recovered_and_truncated_files(tmp_path, insurer_keys):
    public, private = insurer_keys["rsa"]
    session = tmp_path / "20260101T000000Z-abcdef"
    session.mkdir()
    key = SessionKey.generate()
    (session / SESSION_KEY_FILE).write_bytes(session_key_json(wrap(key, public)))
    data = os.urandom(3500)
    # recovery renamed a second .part of the same name; it was cut by the power cut
    (session / "audio-000001.wav.recovered-1").write_bytes(
        encrypted(key, "audio-000001.wav", data, finish=False))
    (session / "plain.txt").write_bytes(b"stored in the clear")
    dec = MediaDecryptor(private)
    assert dec.open(session / "audio-000001.wav.recovered-1") == data[:3000]
    assert len(dec.problems) == 1 and "truncated after 3 complete chunks" in dec.problems[0]
    assert dec.open(session / "plain.txt") == b"stored in the clear"
    with pytest.raises(TruncatedMediaError):
        MediaDecryptor(private, allow_truncated=False).open(
            session / "audio-000001.wav.recovered-1")
    dec.close()
    assert dec.session_key(session) is not None  # unwrapped again on demand


def test_encrypted_file_without_session_key_file(tmp_path, insurer_keys):
    key = SessionKey.generate()
    (tmp_path / "video-000001.h264").write_bytes(encrypted(key, "video-000001.h264", b"x"))
    with pytest.raises(MediaFormatError, match="no session-key.json"):
        MediaDecryptor(insurer_keys["x25519"][1]).open(tmp_path / "video-000001.h264")


def test_session_key_file_errors_name_it(tmp_path):
    with pytest.raises(KeyUnwrapError, match="no such file"):
        read_session_key_file(tmp_path / SESSION_KEY_FILE)
    (tmp_path / SESSION_KEY_FILE).write_text("[1]")
    with pytest.raises(KeyUnwrapError, match=f"{tmp_path / SESSION_KEY_FILE}: .*JSON object"):
        read_session_key_file(tmp_path / SESSION_KEY_FILE)


@pytest.mark.parametrize("on_disk,bound", [
    ("video-000001.h264", "video-000001.h264"),
    ("video-000001.h264.part", "video-000001.h264"),
    ("audio-000002.wav.recovered-3", "audio-000002.wav"),
    ("photo.recovered-x", "photo.recovered-x"),
])
def test_bound_name(on_disk, bound):
    assert bound_name(on_disk) == bound
