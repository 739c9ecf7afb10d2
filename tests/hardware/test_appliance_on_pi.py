"""On a Raspberry Pi set up by provisioning/raspberry-pi/install.sh, with the camera, microphone,
speaker and panel connected: the appliance runs under its unit's sandbox and its start-up
self-test reaches the real devices from inside it. Run as root, from the installed release:

    sudo /opt/dualrec/venv/bin/pip install pytest pytest-timeout
    cd /opt/dualrec/src && sudo DUALREC_HARDWARE=1 /opt/dualrec/venv/bin/python -m pytest tests/hardware
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

pytestmark = [pytest.mark.hardware,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (systemctl, sudo -u)")]

VENV = "/opt/dualrec/venv"
SOCKET = "/run/dualrec/control.sock"


def run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)


def show(prop: str, unit: str = "dualrec.service") -> str:
    return run("systemctl", "show", unit, "-p", prop, "--value").stdout.strip()


def status() -> dict:
    out = run(f"{VENV}/bin/dualrec", "status", "--socket", SOCKET)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_units_are_enabled_and_the_user_has_its_groups():
    for unit in ("dualrec.service", "dualrec-firstboot.service", "dualrec-verify.timer"):
        assert run("systemctl", "is-enabled", unit).stdout.strip() == "enabled", unit
    groups = run("id", "-nG", "dualrec").stdout.split()
    assert {"video", "audio", "gpio", "input"} <= set(groups)
    assert show("WatchdogUSec") == "30s"


def test_the_sandboxed_daemon_reaches_every_device_and_feeds_the_watchdog():
    assert run("systemctl", "restart", "dualrec.service", timeout=150).returncode == 0
    assert show("ActiveState") == "active"
    restarts = int(show("NRestarts"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and status()["selftest"] is None:
        time.sleep(1)
    report = status()
    checks = report["selftest"]["checks"]
    # The self-test ran the camera (DeviceAllow video4linux/media/dma_heap, picamera2 under
    # MemoryDenyWriteExecute=yes and the system call filter) and the microphone (alsa).
    assert checks["camera"]["ok"], checks["camera"]
    assert checks["microphone"]["ok"], checks["microphone"]
    assert report["simulated"] is False
    time.sleep(35)   # longer than WatchdogSec=30s: not killed, fed all along
    assert show("ActiveState") == "active" and int(show("NRestarts")) == restarts
    since = show("ActiveEnterTimestamp")
    journal = run("journalctl", "-u", "dualrec", "--since", since, "--no-pager").stdout
    # A system call the filter refuses, or a device DevicePolicy hides, shows up here.
    assert "SIGSYS" not in journal and "cannot start" not in journal, journal[-3000:]


def test_picamera2_imports_in_the_virtualenv():
    out = run(f"{VENV}/bin/python", "-c", "import picamera2, lgpio, pyaudio, evdev; print('ok')")
    assert out.stdout.strip() == "ok", out.stderr


def test_the_daily_verification_passes():
    assert run("systemctl", "start", "dualrec-verify.service", timeout=3600).returncode == 0
    assert show("Result", "dualrec-verify.service") == "success"
