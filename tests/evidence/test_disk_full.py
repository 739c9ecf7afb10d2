"""A full disk (a small tmpfs) and unusable paths: a clear error, nothing sealed is lost."""
from __future__ import annotations

import os
import subprocess

import pytest

from firmware.errors import DiskFullError, LedgerClosedError, StorageError
from firmware.evidence.store import Evidence
from firmware.evidence.recovery import recover
from firmware.evidence.verify import verify_path

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@needs_root
def test_disk_full_stops_with_a_clear_error_and_sealed_evidence_survives(small_disk,
                                                                          device_key, clock):
    spool = small_disk / "spool"
    ev = Evidence.open(spool, device_key, clock)
    sid = ev.start_session()
    sealed = []
    with pytest.raises(DiskFullError) as info:
        for i in range(1000):
            part = ev.new_file(sid, f"video-{i:06d}.h264")
            try:
                for _ in range(8):
                    part.write(os.urandom(16 * 1024))
                    part.flush()
            except DiskFullError:
                part.abandon()
                raise
            sealed.append(ev.seal(sid, [part], {"stream": "video"}))
    assert "disk full" in str(info.value) and "video-" in str(info.value)
    assert info.value.errno == 28
    assert len(sealed) > 3
    # everything sealed still verifies; the only findings are the unsealed leftovers
    report = verify_path(spool)
    assert {f.kind for f in report.findings} <= {"unsealed_file", "torn_tail"}
    for rec in sealed:
        for f in rec.files:
            assert f.path not in {x.file for x in report.findings}
    ev.ledger.close()
    # space comes back (sync frees it on a unit); the next start recovers
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
    rep = recover(spool, device_key, clock, device_id=ev.device_id)
    assert rep.sealed_parts and rep.closed_sessions == [sid]
    result = verify_path(spool)
    assert result.ok, result.to_text()


@needs_root
def test_ledger_write_on_a_full_disk_stops_the_ledger(small_disk, device_key, clock):
    spool = small_disk / "spool"
    ev = Evidence.open(spool, device_key, clock)
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # fill the disk to the last byte
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    with pytest.raises(StorageError):
        for _ in range(10_000):
            ev.event("press", {"button": "NEXT", "pad": "x" * 200})
    with pytest.raises(LedgerClosedError, match="failed write"):  # stopped after the failure
        ev.event("press")
    filler.unlink()
    ev.ledger.close()
    recover(spool, device_key, clock, device_id=ev.device_id)
    assert verify_path(spool).ok


def test_unusable_spool_path_names_the_path(tmp_path, device_key, clock):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError) as info:
        Evidence.open(blocker / "spool", device_key, clock)
    assert str(blocker) in str(info.value)
