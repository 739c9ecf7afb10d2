"""What systemd sees of ``dualrec run`` (Type=notify, WatchdogSec=): READY, STATUS, WATCHDOG and
STOPPING on the NOTIFY_SOCKET, and a watchdog that is fed only while frames really arrive."""
from __future__ import annotations

import json
import subprocess
import sys

from firmware.evidence.verify import verify_path

#: Appliance.healthy() calls video stale after 3 s without a frame; the daemon's loop runs
#: once a second. Past this, no WATCHDOG=1 may arrive.
STALE_S = 3.0 + 1.5


def lines(got: list[tuple[float, str]], prefix: str) -> list[float]:
    return [t for t, line in got if line.startswith(prefix)]


def test_ready_then_status_and_watchdog_until_a_clean_stop(start_daemon, sim_config,
                                                           dualrec_cli):
    daemon = start_daemon(sim_config)
    before_ready = daemon.notify.wait_for("READY=1")
    assert "WATCHDOG=1" not in before_ready  # nothing is fed before the appliance is up
    got = daemon.notify.receive(3.5)
    pings = lines(got, "WATCHDOG=1")
    # WATCHDOG_USEC=2 s: fed about every second (half the interval), well inside the 2 s that
    # would trip systemd, and not blindly faster.
    assert len(pings) >= 3, got
    assert all(0.5 <= b - a < 2.0 for a, b in zip(pings, pings[1:])), pings
    assert lines(got, "STATUS="), got
    daemon.wait_idle()
    assert any(line == "STATUS=idle" for _t, line in daemon.notify.receive(1.5))

    # The appliance holds the devices: the hardware check refuses to run beside it.
    hwcheck = subprocess.run([sys.executable, "-m", "firmware.cli.hwcheck", "--config",
                              str(sim_config), "--simulate-input"], capture_output=True,
                             text=True, timeout=60)
    assert hwcheck.returncode == 2 and "systemctl stop dualrec" in hwcheck.stderr

    assert daemon.stop() == 0, daemon.log.read_text()
    assert "STOPPING=1" in daemon.notify.wait_for("STOPPING=1", 10)


def test_watchdog_starves_while_frames_stop_and_resumes_when_they_return(start_daemon,
                                                                         sim_config):
    daemon = start_daemon(sim_config)
    daemon.notify.wait_for("READY=1")
    daemon.wait_idle()
    out = daemon.cli("press", "RECORD")
    assert out.returncode == 0 and json.loads(out.stdout)["state"] == "recording", out.stderr
    recording = daemon.notify.receive(2.5)
    assert len(lines(recording, "WATCHDOG=1")) >= 2, recording  # frames flow: fed

    assert daemon.cli("sim", "camera", "unplug").returncode == 0
    daemon.notify.receive(STALE_S)           # the last frame grows stale
    starved = daemon.notify.receive(4.0)
    assert not lines(starved, "WATCHDOG=1"), starved
    # Still alive and talking: systemd shows what it is doing while the watchdog runs out.
    assert [line for _t, line in starved if line.startswith("STATUS=recording")], starved
    assert daemon.proc.poll() is None

    assert daemon.cli("sim", "camera", "replug").returncode == 0
    resumed = daemon.notify.receive(4.0)
    assert len(lines(resumed, "WATCHDOG=1")) >= 2, resumed

    assert daemon.cli("press", "RECORD", "--hold", "2.5").returncode == 0
    assert daemon.stop() == 0, daemon.log.read_text()
    report = verify_path(sim_config.parent / "spool")
    assert report.ok, report.to_text()
    # The time without frames is on the chain as a signed GAP, not hidden.
    assert [n for n in report.notes if n.kind == "gap" and "device_lost" in n.message], \
        report.to_text()
