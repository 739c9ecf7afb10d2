"""The unit survives a full disk (issue 11, F): a session ends cleanly when free space falls
below the reserve, a start on a full disk comes up degraded instead of failing, and once
space is freed it records again and everything verifies with the gap explained."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from firmware.evidence.verify import verify_path

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def tmpfs_spool(sim_config):
    text = sim_config.read_text().replace('template = "bank-life"',
                                          'template = "bank-life"\nselftest_minutes = 1')
    sim_config.write_text(text)
    spool = sim_config.parent / "spool"
    spool.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(spool)], check=True)
    yield spool
    subprocess.run(["umount", "-l", str(spool)], check=False)


def fill(path, leave_bytes: int) -> None:
    """Write a filler file until only about ``leave_bytes`` are free."""
    free = os.statvfs(path.parent)
    room = free.f_bavail * free.f_frsize - leave_bytes
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    block = b"\0" * (1 << 20)
    try:
        while room > 0:
            room -= os.write(fd, block[:min(len(block), room)])
    except OSError:
        pass  # the disk is full: that was the point
    finally:
        os.close(fd)


def status(daemon) -> dict:
    out = daemon.cli("status")
    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr}


def wait_state(daemon, state: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = status(daemon)
        if got.get("state") == state:
            return got
        assert daemon.proc.poll() is None, daemon.log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"not {state}: {status(daemon)}\n{daemon.log.read_text()[-3000:]}")


def test_a_session_ends_cleanly_when_the_disk_fills(start_daemon, sim_config, tmpfs_spool):
    daemon = start_daemon(sim_config)   # [spool] min_free_mb = 16
    daemon.notify.wait_for("READY=1")
    wait_state(daemon, "idle")
    assert daemon.cli("press", "RECORD").returncode == 0
    wait_state(daemon, "recording")
    fill(tmpfs_spool / "filler", 8 * 2**20)        # below the 16 MiB reserve
    got = wait_state(daemon, "idle")
    assert got["last_session"]["session_id"]
    refused = daemon.cli("press", "RECORD")
    assert json.loads(refused.stdout)["state"] == "idle"       # refused: storage
    assert status(daemon)["recording_blocked"]["reason"] == "storage"
    assert daemon.stop() == 0, daemon.log.read_text()
    (tmpfs_spool / "filler").unlink()
    report = verify_path(tmpfs_spool)
    assert report.ok, report.to_text()
    sid = got["last_session"]["session_id"]
    lines = b"".join(p.read_bytes() for p in sorted((tmpfs_spool / "ledger").iterdir()))
    end = [ln for ln in lines.split(b"\n") if b'"SESSION_END"' in ln and sid.encode() in ln]
    assert end and b'"reason":"disk_low"' in end[0]


def test_a_start_on_a_full_disk_is_degraded_then_recovers(start_daemon, sim_config,
                                                           tmpfs_spool):
    text = sim_config.read_text().replace("min_free_mb = 16", "min_free_mb = 0")
    sim_config.write_text(text)
    daemon = start_daemon(sim_config)
    daemon.notify.wait_for("READY=1")
    wait_state(daemon, "idle")
    assert daemon.cli("press", "RECORD").returncode == 0
    wait_state(daemon, "recording")
    fill(tmpfs_spool / "filler", 0)                 # the disk fills mid-session
    wait_state(daemon, "fault")
    assert daemon.stop() == 0, daemon.log.read_text()

    again = start_daemon(sim_config)                # restarts on a full disk
    again.notify.wait_for("READY=1")
    again.notify.wait_for("STATUS=degraded: disk full")   # systemd shows why
    got = wait_state(again, "degraded")
    assert "disk full" in got["reason"]
    (tmpfs_spool / "filler").unlink()               # the uploader (or a person) frees room
    wait_state(again, "idle")
    assert again.stop() == 0, again.log.read_text()
    report = verify_path(tmpfs_spool)
    assert report.ok, report.to_text()
    assert "gap" in {n.kind for n in report.notes}, report.to_text()   # what the cut lost
