"""Fixtures for the appliance under systemd: its unit files, a simulated configuration, and
``dualrec run`` as a process talking systemd's notify protocol to a socket the test owns."""
from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from notify_socket import NotifySocket
from sim_config import write_sim_config

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
PI = REPO / "provisioning" / "raspberry-pi"
VENV_BIN = Path(sys.executable).parent
#: Where install.sh puts the virtualenv; the units run the commands from there.
INSTALLED_BIN = "/opt/dualrec/venv/bin"


class _MultiDict(dict):
    """Keeps every value of a key that a unit sets more than once (DeviceAllow=, ...)."""

    def __setitem__(self, key, value):
        if key in self and isinstance(value, list) and isinstance(self[key], list):
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values, in order]}}."""
    parser = configparser.RawConfigParser(strict=False, dict_type=_MultiDict,
                                          empty_lines_in_values=False)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return {section: {key: value.split("\n") for key, value in parser[section].items()}
            for section in parser.sections()}


@pytest.fixture
def unit():
    return lambda name: parse_unit(UNITS / name)


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmware.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


@pytest.fixture
def dualrec_cli():
    """``dualrec_cli(*args)``: the dualrec command as a process."""
    return cli


@pytest.fixture
def sim_config(tmp_path) -> Path:
    """A configuration on simulated hardware (small frames), everything under tmp_path."""
    return write_sim_config(tmp_path)


class Daemon:
    def __init__(self, proc: subprocess.Popen, config: Path, notify: NotifySocket,
                 log: Path) -> None:
        self.proc = proc
        self.config = config
        self.notify = notify
        self.log = log

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return cli(*args, "--config", str(self.config))

    def wait_idle(self, timeout: float = 30) -> None:
        """Until the self-test at start has finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.cli("status")
            if out.returncode == 0 and '"state": "idle"' in out.stdout:
                return
            time.sleep(0.2)
        raise AssertionError(f"daemon not idle after {timeout} s: {self.cli('status').stdout}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


@pytest.fixture
def start_daemon(tmp_path):
    """``start_daemon(config, prefix=[])``: ``dualrec run`` under a NOTIFY_SOCKET with
    WATCHDOG_USEC=2 s (``prefix``: a command that execs the rest, e.g. a sandbox)."""
    started: list[Daemon] = []

    def start(config: Path, prefix: list[str] | None = None) -> Daemon:
        notify = NotifySocket(tmp_path / f"notify-{len(started)}.sock")
        log = tmp_path / f"daemon-{len(started)}.log"
        env = dict(os.environ, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="2000000")
        env.pop("WATCHDOG_PID", None)
        with open(log, "w") as stderr:
            proc = subprocess.Popen([*(prefix or []), sys.executable, "-m", "firmware.cli.main",
                                     "run", "--config", str(config)], env=env, cwd=REPO,
                                    stderr=stderr, text=True)
        daemon = Daemon(proc, config, notify, log)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
        daemon.proc.wait()
        daemon.notify.close()
