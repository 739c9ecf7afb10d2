"""Finding kinds of docs/evidence-format.md that no other test provokes by name (issue 11, C
and G): each is produced here on its own, by the smallest change that should produce it — and
nothing else is reported beside it. Crafted records are signed with the device key (an
insider), as tests/evidence/test_verify_total.py crafts them, so that only the check under
test can object."""
from __future__ import annotations

import base64
import hashlib
import os

import pytest

from firmware.evidence import records
from firmware.evidence.keys import DeviceKey
from firmware.evidence.ledger_files import ledger_files
from firmware.evidence.verify import verify_path


def found(report) -> set[tuple[str, str | None, int | None]]:
    return {(f.kind, f.file, f.record) for f in report.findings}


def kinds(report) -> set[str]:
    return {f.kind for f in report.findings}


def head(spool) -> records.Record:
    return records.parse_line(ledger_files(spool.root / "ledger")[-1].read_bytes()
                              .splitlines()[-1])


def append_signed(spool, type_: str, data: dict, *, session: str | None = None,
                  files: list[dict] = (), key: DeviceKey | None = None) -> int:
    """A well-formed record after the chain's head, signed by ``key`` (default: the
    device's own); returns its sequence number."""
    last = head(spool)
    key = key or spool.key
    body = dict(last.body, seq=last.seq + 1, prev=last.hash, type=type_, session=session,
                files=list(files), data=data, key=key.public.fingerprint)
    with open(ledger_files(spool.root / "ledger")[-1], "ab") as f:
        f.write(records.sign_body(body, key.sign).line())
    return last.seq + 1


def entry(spool, rel_on_disk: str, path: str) -> dict:
    """A file entry for ``path`` with the true hash and size of a file that exists."""
    data = (spool.root / rel_on_disk).read_bytes()
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


# -- misplaced_file ----------------------------------------------------------------------------
PLACES = {
    "a way up out of the session": lambda s0, s1: f"sessions/{s0}/../../device/device.json",
    "a way up that comes back": lambda s0, s1: f"sessions/{s0}/../{s0}/photo-01.jpg",
    "an absolute path": lambda s0, s1: "/etc/hostname",
    "an absolute path into the spool": lambda s0, s1: f"/sessions/{s0}/photo-01.jpg",
    "another session's directory": lambda s0, s1: f"sessions/{s1}/photo-01.jpg",
    "a subdirectory of the session": lambda s0, s1: f"sessions/{s0}/sub/photo-01.jpg",
    "a dot component": lambda s0, s1: f"sessions/{s0}/./photo-01.jpg",
    "an empty component": lambda s0, s1: f"sessions/{s0}//photo-01.jpg",
    "the ledger": lambda s0, s1: "ledger/000000000001.ledger",
    "a name ending in a newline": lambda s0, s1: f"sessions/{s0}/photo-01.jpg\n",
    "a session component ending in a newline": lambda s0, s1: f"sessions/{s0}\n/photo-01.jpg",
}


@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_record_whose_file_is_not_inside_its_session_is_misplaced(spool, place):
    s0, s1 = spool.sessions
    path = PLACES[place](s0, s1)
    before = verify_path(spool.root).files_checked
    seq = append_signed(spool, records.SEGMENT, {"stream": "photo"}, session=s0,
                        files=[entry(spool, spool.files["photo"], path)])
    report = verify_path(spool.root)
    newest = ledger_files(spool.root / "ledger")[-1].name
    assert found(report) == {("misplaced_file", f"ledger/{newest}", seq)}, report.to_text()
    assert report.files_checked == before          # the misplaced path is never opened


@pytest.mark.parametrize("path", ["sessions/{s0}/photo-01.jpg", "device/device.json",
                                  "recovered/sub/x.bin", "recovered/../device/device.json"])
def test_a_record_without_a_session_seals_only_inside_recovered(spool, path):
    s0 = spool.sessions[0]
    seq = append_signed(spool, records.GAP, {"kind": "recovered", "start_ns": 0, "end_ns": 0},
                        files=[entry(spool, spool.files["photo"], path.format(s0=s0))])
    report = verify_path(spool.root)
    assert {(k, r) for k, _f, r in found(report)} == {("misplaced_file", seq)}, \
        report.to_text()


# -- ledger files --------------------------------------------------------------------------------
def test_an_empty_ledger_file_before_the_newest_is_a_finding(spool):
    files = ledger_files(spool.root / "ledger")
    assert len(files) >= 2
    first = int(files[0].name.split(".")[0])
    second = int(files[1].name.split(".")[0])
    assert second - first > 1
    empty = spool.root / "ledger" / f"{first + 1:012d}.ledger"
    empty.touch()
    report = verify_path(spool.root)
    assert found(report) == {("empty_ledger_file", f"ledger/{empty.name}", None)}, \
        report.to_text()


def test_an_empty_newest_ledger_file_is_allowed(spool):
    """The writer creates the next file, then writes its first record: a power cut between
    the two leaves an empty newest file."""
    (spool.root / "ledger" / f"{head(spool).seq + 1:012d}.ledger").touch()
    assert verify_path(spool.root).ok


@pytest.mark.parametrize("name, what", [
    ("notes.txt", "file"), ("000000000001.ledger.bak", "file"), ("old", "dir"),
    ("000000000001.LEDGER", "file")])
def test_anything_in_ledger_not_named_like_a_ledger_file_is_extra(spool, name, what):
    target = spool.root / "ledger" / name
    target.mkdir() if what == "dir" else target.write_bytes(b"x")
    report = verify_path(spool.root)
    assert found(report) == {("extra_file", f"ledger/{name}", None)}, report.to_text()


@pytest.mark.parametrize("name, what", [("device.json.orig", "file"), ("device.key", "file"),
                                        ("certs", "dir")])
def test_anything_in_device_but_device_json_is_extra(spool, name, what):
    target = spool.root / "device" / name
    target.mkdir() if what == "dir" else target.write_bytes(b"x")
    report = verify_path(spool.root)
    assert found(report) == {("extra_file", f"device/{name}", None)}, report.to_text()


def test_a_stray_entry_at_the_top_level_is_extra(spool):
    (spool.root / "README").write_bytes(b"x")
    report = verify_path(spool.root)
    assert found(report) == {("extra_file", "README", None)}, report.to_text()


# -- sizes ---------------------------------------------------------------------------------------
def test_a_longer_file_is_a_size_mismatch_and_a_shorter_one_truncated(spool):
    longer, shorter = spool.files["audio"], spool.files["photo"]
    with open(spool.root / longer, "ab") as f:
        f.write(b"\0")
    data = (spool.root / shorter).read_bytes()
    (spool.root / shorter).write_bytes(data[:-1])
    report = verify_path(spool.root)
    assert {(k, f) for k, f, _r in found(report)} == \
        {("size_mismatch", longer), ("truncated_file", shorter)}, report.to_text()


# -- KEY records ---------------------------------------------------------------------------------
def _rotation(spool, new: DeviceKey, *, previous: str | None = None) -> dict:
    proof = new.sign(records.KEY_PROOF_CONTEXT + head(spool).hash.encode() + b"\n"
                     + new.public.b64.encode())
    return {"reason": "rotation", "public_key": new.public.b64,
            "proof": base64.b64encode(proof).decode(),
            "previous_fingerprint": previous or spool.key.public.fingerprint}


@pytest.mark.parametrize("data", [
    "a second genesis",
    "a rotation to no key",
    "a rotation with a proof that is not base64",
    "a rotation naming another previous key",
])
def test_a_bad_key_record_is_a_finding(spool, data):
    new = DeviceKey.generate()
    body = {
        "a second genesis": {"reason": "genesis", "public_key": new.public.b64},
        "a rotation to no key": dict(_rotation(spool, new), public_key="not a key"),
        "a rotation with a proof that is not base64": dict(_rotation(spool, new), proof="@@"),
        "a rotation naming another previous key":
            _rotation(spool, new, previous="0" * 32),
    }[data]
    seq = append_signed(spool, records.KEY, body)
    report = verify_path(spool.root)
    assert {(k, r) for k, _f, r in found(report)} == {("bad_key_record", seq)}, \
        report.to_text()


def test_a_valid_rotation_is_not_a_finding(spool):
    new = DeviceKey.generate()
    append_signed(spool, records.KEY, _rotation(spool, new))
    append_signed(spool, records.EVENT, {"kind": "after_rotation"}, key=new)
    assert verify_path(spool.root).ok


# -- records an insider could sign ---------------------------------------------------------------
def test_a_record_of_another_device_is_foreign(spool):
    last = head(spool)
    body = dict(last.body, seq=last.seq + 1, prev=last.hash, type=records.EVENT,
                session=None, files=[], data={"kind": "x"}, device="dr-000000000000")
    with open(ledger_files(spool.root / "ledger")[-1], "ab") as f:
        f.write(records.sign_body(body, spool.key.sign).line())
    report = verify_path(spool.root)
    assert {(k, r) for k, _f, r in found(report)} == {("foreign_device", last.seq + 1)}


def test_a_file_sealed_twice_is_covered_twice(spool):
    rel = spool.files["photo"]
    sid = rel.split("/")[1]
    seq = append_signed(spool, records.SEGMENT, {"stream": "photo"}, session=sid,
                        files=[entry(spool, rel, rel)])
    report = verify_path(spool.root)
    assert {(k, r) for k, _f, r in found(report)} == {("covered_twice", seq)}, report.to_text()


def test_a_record_before_its_session_start_is_outside_the_session(spool):
    seq = append_signed(spool, records.EVENT, {"kind": "press"},
                        session="20990101T000000Z-abcdef")
    report = verify_path(spool.root)
    assert {(k, r) for k, _f, r in found(report)} == {("record_outside_session", seq)}, \
        report.to_text()


def test_a_second_session_end_is_a_finding(spool):
    sid = spool.sessions[0]
    seq = append_signed(spool, records.SESSION_END, {"manifest": {}}, session=sid)
    report = verify_path(spool.root)
    assert {(k, r) for k, _f, r in found(report)} == {("session_ended_twice", seq)}, \
        report.to_text()


def test_a_manifest_that_lists_what_was_never_sealed_is_a_finding(spool):
    sid = "20990101T000000Z-abcdef"
    append_signed(spool, records.SESSION_START, {"template": "test"}, session=sid)
    fake = entry(spool, spool.files["photo"], f"sessions/{sid}/photo-01.jpg")
    seq = append_signed(spool, records.SESSION_END, {"manifest": {"files": [fake]}},
                        session=sid)
    report = verify_path(spool.root)
    assert {(k, r) for k, _f, r in found(report)} == {("manifest_mismatch", seq)}, \
        report.to_text()


def test_a_checkpoint_with_the_wrong_count_is_a_finding(spool):
    seq = append_signed(spool, records.CHECKPOINT, {"records_since_checkpoint": 10**6})
    report = verify_path(spool.root)
    assert {(k, r) for k, _f, r in found(report)} == {("checkpoint_mismatch", seq)}, \
        report.to_text()


def test_a_ledger_file_named_after_another_record_is_misnamed(spool):
    files = ledger_files(spool.root / "ledger")
    last = files[-1]
    first_seq = int(last.name.split(".")[0])
    renamed = last.with_name(f"{first_seq + 1:012d}.ledger")
    os.rename(last, renamed)
    report = verify_path(spool.root)
    assert found(report) == {("misnamed_ledger_file", f"ledger/{renamed.name}", None)}, \
        report.to_text()
