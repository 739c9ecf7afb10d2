"""Recovery repairs only what a power cut can cause (issue 11, B and C). Someone with the SD
card damages the ledger or plants links and FIFOs in the spool, then lets the unit restart:
the unit never cuts, re-signs or follows them; it records the damage in a signed DAMAGE
record, refuses to record until a person acknowledges it, and verify reports it forever."""
from __future__ import annotations

import os
import subprocess
import threading

import pytest

from firmware.evidence import records
from firmware.evidence.store import Evidence
from firmware.evidence.ledger_files import ledger_files, read_lines
from firmware.evidence.recovery import acknowledge_damage, read_damage_state, recover
from firmware.evidence.spool import Spool
from firmware.evidence.verify import verify_path


def kinds(report) -> set[str]:
    return {f.kind for f in report.findings}


def restart(root, key, clock):
    """What the daemon does at start: recover, open, BOOT; then a clean stop."""
    ev = Evidence.open(root, key, clock)
    report = ev.recovery
    ev.close()
    return report


def damage_records(root):
    out = []
    for path in ledger_files(root / "ledger"):
        out += [ln.record for ln in read_lines(path)
                if ln.record is not None and ln.record.type == records.DAMAGE]
    return out


def test_a_flipped_byte_in_the_last_record_is_damage_not_a_torn_tail(spool, clock):
    newest = ledger_files(spool.root / "ledger")[-1]
    data = bytearray(newest.read_bytes())
    lines = data.split(b"\n")
    last = len(data) - len(lines[-2]) - 1          # start of the last complete line
    data[last + 30] ^= 0x01                        # inside the body: still ends with LF
    newest.write_bytes(bytes(data))
    original = bytes(data)
    report = restart(spool.root, spool.key, clock)
    assert report.torn_bytes == 0 and report.damage and report.damage_seq
    assert newest.read_bytes().startswith(original)  # the damaged bytes are kept as they were
    assert not (spool.root / "recovered").exists() or not os.listdir(spool.root / "recovered")
    [damage] = damage_records(spool.root)
    item = damage.data["items"][0]
    assert item["file"] == f"ledger/{newest.name}" and item["offset"] == last
    assert item["length"] > 0 and len(item["sha256"]) == 64
    result = verify_path(spool.root)
    assert not result.ok and "recorded_damage" in kinds(result), result.to_text()
    # a second start neither cuts nor records the same damage again; still not intact
    restart(spool.root, spool.key, clock)
    assert len(damage_records(spool.root)) == 1
    assert not verify_path(spool.root).ok


@pytest.mark.parametrize("which", [-1, -2])
def test_zeroed_complete_lines_and_deleted_media_are_never_laundered(tmp_path, device_key,
                                                                       clock, spool_factory,
                                                                       which):
    """The old attack: garbage the last lines of a ledger file (their LFs kept), delete the
    media they sealed, restart. Nothing is cut or re-signed over them."""
    built = spool_factory(tmp_path / "spool", device_key, clock)
    with Evidence.open(built.root, device_key, clock) as ev:   # the newest file: a session
        sid = ev.start_session()
        for i in range(10):
            ev.seal_bytes(sid, f"audio-{i:06d}.wav", os.urandom(500), {"stream": "audio"})
    target = ledger_files(built.root / "ledger")[which]
    lines = target.read_bytes().split(b"\n")[:-1]
    victims = lines[-8:]
    sealed = [f.path for ln in victims for f in records.parse_line(ln).files]
    target.write_bytes(b"\n".join(lines[:-8] + [b"\x00" * len(v) for v in victims]) + b"\n")
    for rel in sealed:
        (built.root / rel).unlink()
    report = restart(built.root, device_key, clock)
    assert report.torn_bytes == 0 and report.damage
    assert b"\x00" * len(victims[0]) in target.read_bytes()       # kept
    result = verify_path(built.root)
    assert not result.ok and "recorded_damage" in kinds(result), result.to_text()
    assert "malformed_record" in kinds(result)


def test_a_missing_ledger_file_is_recorded_damage(spool, clock):
    files = ledger_files(spool.root / "ledger")
    assert len(files) >= 3
    files[1].unlink()
    report = restart(spool.root, spool.key, clock)
    assert [d.kind for d in report.damage] == ["sequence_gap"]
    assert {"sequence_gap", "recorded_damage"} <= kinds(verify_path(spool.root))


def test_damage_stops_recording_until_a_person_acknowledges_it(spool, clock):
    newest = ledger_files(spool.root / "ledger")[-1]
    with open(newest, "ab") as f:
        f.write(b"not a record at all\n")
    ev = Evidence.open(spool.root, spool.key, clock)
    try:
        assert ev.unacknowledged_damage() == [ev.recovery.damage_seq]
        assert acknowledge_damage(Spool(spool.root)) == [ev.recovery.damage_seq]
        assert ev.unacknowledged_damage() == []
    finally:
        ev.close()
    assert read_damage_state(Spool(spool.root))["recorded"]
    assert "recorded_damage" in kinds(verify_path(spool.root))   # acknowledged, not erased


def test_a_torn_tail_is_only_an_incomplete_last_line(spool, clock):
    newest = ledger_files(spool.root / "ledger")[-1]
    with open(newest, "ab") as f:
        f.write(b'{"boot_id":"abc","da')         # what a power cut leaves
    report = restart(spool.root, spool.key, clock)
    assert report.torn_bytes == len(b'{"boot_id":"abc","da') and not report.damage
    assert verify_path(spool.root).ok


def test_a_part_symlink_to_the_device_key_is_never_sealed(spool, clock):
    sid = spool.sessions[0]
    key_file = spool.key.path
    link = spool.root / "sessions" / sid / "video-000099.h264.part"
    link.symlink_to(key_file)
    report = restart(spool.root, spool.key, clock)
    assert not report.sealed_parts
    assert [(d.kind, d.file) for d in report.damage] == \
        [("not_regular_file", f"sessions/{sid}/video-000099.h264.part")]
    assert link.is_symlink()                       # left alone
    secret = key_file.read_bytes()
    for path in ledger_files(spool.root / "ledger"):
        assert secret not in path.read_bytes()
    for entry in (spool.root / "sessions" / sid).iterdir():
        if not entry.is_symlink():
            assert entry.read_bytes() != secret
    result = verify_path(spool.root)
    assert "not_regular_file" in kinds(result) or "unsealed_file" in kinds(result)
    assert not result.ok


def test_a_fifo_or_dev_zero_part_does_not_hang_the_start(spool, clock):
    sid = spool.sessions[1]
    os.mkfifo(spool.root / "sessions" / sid / "audio-000077.wav.part")
    (spool.root / "sessions" / sid / "video-000078.h264.part").symlink_to("/dev/zero")
    done = threading.Event()
    result: list = []

    def start():
        result.append(restart(spool.root, spool.key, clock))
        done.set()

    threading.Thread(target=start, daemon=True).start()
    assert done.wait(60), "recovery hung on a FIFO or /dev/zero"
    assert {d.kind for d in result[0].damage} == {"not_regular_file"}
    assert len(result[0].damage) == 2


def test_recovered_as_a_symlink_is_never_written_through(spool, clock, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (spool.root / "recovered").symlink_to(outside)
    newest = ledger_files(spool.root / "ledger")[-1]
    with open(newest, "ab") as f:
        f.write(b'{"boot_id":"torn')
    report = restart(spool.root, spool.key, clock)
    assert os.listdir(outside) == []
    assert {d.kind for d in report.damage} == {"not_regular_file", "torn_tail"}
    assert not verify_path(spool.root).ok


def test_a_symlinked_directory_in_a_session_is_not_adopted(tmp_path, device_key, clock):
    root = tmp_path / "spool"
    ev = Evidence.open(root, device_key, clock)
    sid = ev.start_session()
    ev.seal_bytes(sid, "photo-1.jpg", b"\xff\xd8 one")
    ev.ledger.close()          # the power goes: the session is still open
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "planted.jpg").write_bytes(b"not ours")
    (root / "sessions" / sid / "extra").symlink_to(elsewhere)
    report = recover(root, device_key, clock, device_id=ev.device_id)
    assert not report.adopted and report.closed_sessions == [sid]
    assert ("not_regular_file", f"sessions/{sid}/extra") in \
        {(d.kind, d.file) for d in report.damage}
    result = verify_path(root)
    assert "not_regular_file" in kinds(result)
    assert "planted" not in "".join(f.file or "" for f in result.findings)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_rescue_that_fails_leaves_no_empty_file(tmp_path, device_key, clock):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], check=True)
    try:
        root = disk / "spool"
        with Evidence.open(root, device_key, clock) as ev:
            ev.event("x")
        newest = ledger_files(root / "ledger")[-1]
        with open(newest, "ab") as f:
            f.write(b'{"boot_id":"torn')
        filler = disk / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        with pytest.raises(OSError):
            recover(root, device_key, clock, device_id=ev.device_id)
        leftovers = [p for p in (root / "recovered").iterdir()] \
            if (root / "recovered").exists() else []
        assert all(p.stat().st_size > 0 for p in leftovers), leftovers
        assert newest.read_bytes().endswith(b'{"boot_id":"torn')   # not cut without a copy
        filler.unlink()
        assert recover(root, device_key, clock, device_id=ev.device_id).torn_bytes > 0
        assert verify_path(root).ok
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
