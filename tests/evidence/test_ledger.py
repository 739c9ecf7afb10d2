"""The ledger: genesis, checkpoints, rolling, key rotation, pruned ranges, canonical bodies."""
from __future__ import annotations

import shutil

import pytest

from firmware.evidence import canonical, records
from firmware.evidence.store import Evidence
from firmware.evidence.keys import DeviceKey
from firmware.evidence.ledger import Ledger
from firmware.evidence.ledger_files import ledger_files, read_lines
from firmware.evidence.verify import verify_path


def all_records(spool):
    return [ln.record for p in ledger_files(spool / "ledger") for ln in read_lines(p)]


def test_genesis_key_boot_and_checkpoints(tmp_path, device_key, clock):
    with Evidence.open(tmp_path / "s", device_key, clock, checkpoint_every=5) as ev:
        for i in range(12):
            ev.event("tick", {"i": i})
    recs = all_records(tmp_path / "s")
    assert [r.type for r in recs[:2]] == ["KEY", "BOOT"]
    assert recs[0].prev == records.GENESIS_PREV and recs[0].data["reason"] == "genesis"
    checkpoints = [r.seq for r in recs if r.type == "CHECKPOINT"]
    assert checkpoints == [6, 12, 18]  # after every 5 records that are not checkpoints
    assert [r.seq for r in recs] == list(range(1, len(recs) + 1))
    assert [r.type for r in recs[-2:]] == ["SHUTDOWN", "CHECKPOINT"]
    # a clean stop: nothing for recovery to do
    from firmware.evidence.recovery import recover
    assert not recover(tmp_path / "s", device_key, clock, device_id=ev.device_id).changed


def test_ledger_rolls_by_size_and_stays_one_chain(tmp_path, device_key, clock):
    with Evidence.open(tmp_path / "s", device_key, clock, roll_bytes=4096) as ev:
        for i in range(60):
            ev.event("tick", {"i": i})
    files = ledger_files(tmp_path / "s" / "ledger")
    assert len(files) > 5
    assert all(p.stat().st_size <= 4096 for p in files)
    assert verify_path(tmp_path / "s").ok


def test_key_rotation_is_signed_by_old_and_new_key(tmp_path, device_key, clock):
    new = DeviceKey.generate()
    with Evidence.open(tmp_path / "s", device_key, clock) as ev:
        ev.event("before")
        ev.ledger.rotate_key(new)
        ev.event("after")
    rec = next(r for r in all_records(tmp_path / "s") if r.type == "KEY" and r.seq > 1)
    assert rec.body["key"] == device_key.public.fingerprint
    assert rec.data["public_key"] == new.public.b64
    assert verify_path(tmp_path / "s").ok
    # reopen with the new key: the chain goes on under it
    with Evidence.open(tmp_path / "s", new, clock, device_id=ev.device_id) as ev2:
        ev2.event("later")
    assert verify_path(tmp_path / "s").ok


def test_key_rotation_without_a_valid_proof_is_found(tmp_path, device_key, clock):
    new, impostor = DeviceKey.generate(), DeviceKey.generate()
    with Evidence.open(tmp_path / "s", device_key, clock) as ev:
        ev.ledger.rotate_key(new)
    path = ledger_files(tmp_path / "s" / "ledger")[-1]
    lines = path.read_bytes().splitlines(keepends=True)
    idx = next(i for i, l in enumerate(lines)
               if records.parse_line(l).data.get("reason") == "rotation")
    rec = records.parse_line(lines[idx])
    data = dict(rec.data, public_key=impostor.public.b64)  # proof was made by `new`
    lines[idx] = records.sign_body(dict(rec.body, data=data), device_key.sign).line()
    path.write_bytes(b"".join(lines))
    kinds = {f.kind for f in verify_path(tmp_path / "s").findings}
    assert "bad_signature" in kinds


def test_a_signed_gap_never_excuses_missing_records(tmp_path, device_key, clock,
                                                    spool_factory):
    """Only files of closed sessions may be pruned, never records: a signed GAP claiming a
    range of records was pruned leaves the jump a finding (and its items bad prunings)."""
    built = spool_factory(tmp_path / "spool", device_key, clock, sessions=2)
    first = ledger_files(built.root / "ledger")[0]
    pruned = [ln.record for ln in read_lines(first)]
    gone = [f.path for r in pruned for f in r.files]
    sessions = {r.session for r in pruned if r.session}
    with Evidence.open(built.root, device_key, clock) as ev:
        ev.ledger.append(records.GAP, data={
            "kind": "pruned", "from_seq": pruned[0].seq, "to_seq": pruned[-1].seq,
            "last_hash": pruned[-1].hash, "files_pruned": gone, "start_ns": 0, "end_ns": 0})
    first.unlink()
    for sid in sessions:
        shutil.rmtree(built.root / "sessions" / sid)
    kinds = {f.kind for f in verify_path(built.root).findings}
    assert {"sequence_gap", "bad_first_record", "bad_prune"} <= kinds


def test_unexplained_missing_ledger_file_is_a_gap(tmp_path, spool):
    files = ledger_files(spool.root / "ledger")
    files[1].unlink()
    kinds = {f.kind for f in verify_path(spool.root).findings}
    assert "sequence_gap" in kinds


def test_monotonic_time_going_backwards_is_found(tmp_path, device_key, clock):
    with Evidence.open(tmp_path / "s", device_key, clock) as ev:
        ev.event("a")
        clock._mono_offset -= 10**9  # the simulated clock jumps back within the same boot
        ev.event("b")
    kinds = {f.kind for f in verify_path(tmp_path / "s").findings}
    assert kinds == {"time_went_backwards"}


def test_floats_cannot_enter_a_record():
    with pytest.raises(TypeError, match="record.data.level: floats are not allowed"):
        canonical.encode({"data": {"level": 0.5}})


def test_a_non_canonical_body_is_malformed(tmp_path, device_key, clock):
    with Evidence.open(tmp_path / "s", device_key, clock) as ev:
        ev.event("a")
    path = ledger_files(tmp_path / "s" / "ledger")[-1]
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'{"boot_id"', b'{ "boot_id"', 1)
    path.write_bytes(b"".join(lines))
    findings = verify_path(tmp_path / "s").findings
    assert findings[0].kind == "malformed_record" and "canonical" in findings[0].message


def test_an_open_torn_ledger_refuses_to_append(tmp_path, device_key, clock):
    with Evidence.open(tmp_path / "s", device_key, clock) as ev:
        ev.event("a")
    with open(ledger_files(tmp_path / "s" / "ledger")[-1], "ab") as f:
        f.write(b"{partial")
    with pytest.raises(OSError, match="dualrec recover"):
        Ledger(tmp_path / "s" / "ledger", device_key, ev.device_id, clock)


def test_key_file_is_private_and_refused_when_readable(tmp_path):
    path = tmp_path / "k" / "device.key"
    key = DeviceKey.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert DeviceKey.load_or_create(path).public == key.public
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        DeviceKey.load(path)


def _prune_items(built, paths):
    from firmware.evidence.spool import hash_file
    return [{"path": p, **dict(zip(("sha256", "size"), hash_file(built.root / p))),
             "key": f"branch/dev/{p}", "version_id": "v1", "checksum": "c2hh"} for p in paths]


def test_pruned_files_verify_and_unpruned_deletion_does_not(tmp_path, device_key, clock,
                                                             spool_factory):
    built = spool_factory(tmp_path / "spool", device_key, clock, sessions=2)
    victims = [built.files["video"], built.files["audio"]]
    with Evidence.open(built.root, device_key, clock) as ev:
        ev.prune_files(_prune_items(built, victims), {"reason": "uploaded"})
    assert not any((built.root / v).exists() for v in victims)
    report = verify_path(built.root)
    assert report.ok, report.to_text()
    assert "not checked against the bucket" in report.levels["pruned"]
    (built.root / built.files["photo"]).unlink()  # not pruned: a finding
    assert {f.kind for f in verify_path(built.root).findings} == {"missing_file"}
