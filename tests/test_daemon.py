"""`dualrec run` as a process: systemd's notify protocol, the control socket, a clean stop."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from notify_socket import NotifySocket
from sim_config import write_sim_config

from firmware.evidence.verify import verify_path


def cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "firmware.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def daemon(tmp_path):
    config = write_sim_config(tmp_path)
    notify = NotifySocket(tmp_path / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="2000000")
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "firmware.cli.main", "run", "--config",
                             str(config)], env=env, stderr=subprocess.PIPE, text=True)
    yield proc, config, notify, tmp_path
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    notify.close()


def messages(notify: NotifySocket, until: str, timeout: float = 60) -> list[str]:
    return notify.wait_for(until, timeout)


def test_daemon_notifies_serves_the_control_socket_and_stops_cleanly(daemon):
    proc, config, notify, tmp = daemon
    assert "READY=1" in messages(notify, "READY=1")
    assert "WATCHDOG=1" in messages(notify, "WATCHDOG=1")
    status = json.loads(cli("status", "--config", str(config)).stdout)
    assert status["state"] in ("idle", "selftest_failed") and status["simulated"]
    for _ in range(100):  # the self-test at start runs the devices briefly
        status = json.loads(cli("status", "--config", str(config)).stdout)
        if status["state"] == "idle":
            break
        time.sleep(0.1)
    assert cli("sim", "camera", "scene", "scene=face", "--config", str(config)).returncode == 0
    out = cli("press", "RECORD", "--config", str(config))
    assert out.returncode == 0, out.stderr
    status = json.loads(cli("status", "--config", str(config)).stdout)
    assert status["state"] == "recording" and status["node"] == "consent"
    bad = cli("press", "NEXT", "--hold", "99", "--config", str(config))
    assert bad.returncode == 1 and "between 0 and 30" in bad.stderr
    time.sleep(1)
    assert cli("press", "RECORD", "--hold", "2.5", "--config", str(config)).returncode == 0
    status = json.loads(cli("status", "--config", str(config)).stdout)
    assert status["state"] == "idle" and status["last_session"]["session_id"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, proc.stderr.read()
    assert "STOPPING=1" in messages(notify, "STOPPING=1", 5)
    report = verify_path(tmp / "spool")
    assert report.ok, report.to_text()
    assert not (tmp / "control.sock").exists()


def test_press_without_a_daemon_says_so(tmp_path):
    out = cli("press", "NEXT", "--socket", str(tmp_path / "none.sock"))
    assert out.returncode == 2 and "no dualrec daemon" in out.stderr


def test_run_refuses_a_bad_config(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[drivers]\nbackend = "simulated"\n')
    out = cli("run", "--config", str(bad))
    assert out.returncode == 2 and "backend: must be one of real, sim" in out.stderr


def test_a_notify_socket_nobody_reads_never_stops_the_daemon(tmp_path):
    """A wedged service manager: the datagram queue (10 here) fills, notifications are dropped
    and counted, and SIGTERM still stops the daemon cleanly."""
    config = write_sim_config(tmp_path)
    unread = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unread.bind(str(tmp_path / "unread.sock"))
    log = tmp_path / "daemon.log"
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "unread.sock"), WATCHDOG_USEC="400000")
    env.pop("WATCHDOG_PID", None)
    try:
        with open(log, "w") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "firmware.cli.main", "run", "--config",
                                     str(config)], env=env, stderr=stderr, text=True)
        try:
            deadline = time.monotonic() + 120
            while "did not take a notification" not in log.read_text():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            status = json.loads(cli("status", "--config", str(config)).stdout)
            assert status["state"] in ("idle", "selftest", "selftest_failed")  # still serving
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        unread.close()
    text = log.read_text()
    assert "notifications to the service manager were dropped" in text, text
    assert "stopped cleanly" in text, text
    assert verify_path(tmp_path / "spool").ok


def test_run_simulated_needs_no_configuration(tmp_path):
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    proc = subprocess.Popen([sys.executable, "-m", "firmware.cli.main", "run", "--simulated"],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            out = subprocess.run([sys.executable, "-m", "firmware.cli.main", "status",
                                  "--simulated"], env=env, capture_output=True, text=True,
                                 timeout=60)
            if out.returncode == 0 and json.loads(out.stdout)["state"] == "idle":
                break
            assert proc.poll() is None and time.monotonic() < deadline, out.stderr
            time.sleep(0.2)
        assert json.loads(out.stdout)["simulated"] is True
        sim_dir = tmp_path / "state" / "dualrec-sim"
        assert (sim_dir / "spool" / "ledger").is_dir()
        assert os.stat(sim_dir).st_mode & 0o777 == 0o700
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert verify_path(tmp_path / "state" / "dualrec-sim" / "spool").ok
