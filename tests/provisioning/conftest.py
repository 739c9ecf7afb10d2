"""Fixtures for the provisioning tests: real CAs made by the CLI, enrolled units, a spool,
and a real mosquitto with a minimal TLS configuration trusting the fleet CA."""
from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from drivers.clock import SimClock
from firmware.evidence.store import Evidence
from provisioning.cli import main

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@pytest.fixture(scope="session")
def ca_dir(tmp_path_factory) -> Path:
    """The development fleet CA, made by ``dualrec-provision ca init``."""
    out = tmp_path_factory.mktemp("fleet") / "ca"
    assert main(["ca", "init", "--out", str(out), "--name", "test fleet CA"]) == 0
    return out


@pytest.fixture(scope="session")
def other_ca_dir(tmp_path_factory) -> Path:
    """A CA the fleet does not trust (another fleet's, or an attacker's)."""
    out = tmp_path_factory.mktemp("other") / "ca"
    assert main(["ca", "init", "--out", str(out), "--name", "some other CA"]) == 0
    return out


@dataclass
class Unit:
    """An enrolled unit's files."""

    device_id: str
    keys: Path
    config: Path

    def __getitem__(self, name: str) -> Path:
        return self.keys / name


@pytest.fixture
def enroll(tmp_path) -> Callable[..., Unit]:
    """``enroll(ca_dir, device_id, *extra_args)``: a unit enrolled through the CLI."""

    def _enroll(ca: Path, device_id: str = "dr-unit-01", *extra: str) -> Unit:
        keys = tmp_path / device_id / "keys"
        config = tmp_path / device_id / "dualrec.toml"
        rc = main(["device", "enroll", "--ca", str(ca), "--device-id", device_id,
                   "--out", str(keys), "--config", str(config), "--owner", "", *extra])
        assert rc == 0
        return Unit(device_id, keys, config)

    return _enroll


@pytest.fixture
def clock() -> SimClock:
    return SimClock(realtime=True)


def _fill_spool(spool: Path, key, clock: SimClock, device_id: str, certificate: str | None,
                sessions: int = 1) -> None:
    """Record ``sessions`` short sessions into ``spool`` through the real seal path."""
    with Evidence.open(spool, key, clock, device_id=device_id, certificate=certificate,
                       checkpoint_every=5) as ev:
        for n in range(sessions):
            sid = ev.start_session({"template": "test", "n": n})
            for i in range(3):
                ev.seal_bytes(sid, f"seg{i}.bin", bytes([n, i]) * 100,
                              data={"stream": "video"})
                clock.advance(1.0)
            ev.event("button", {"button": "NEXT"}, session_id=sid)
            ev.end_session(sid)


@pytest.fixture
def fill_spool() -> Callable[..., None]:
    """``fill_spool(spool, key, clock, device_id, certificate_pem, sessions=1)``."""
    return _fill_spool


# -- a real broker ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto 2.0 on a loopback port: TLS only, client certificates from the fleet CA
    required, the certificate's CN as the username."""

    def __init__(self, workdir: Path, ca_dir: Path) -> None:
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = workdir / "mosquitto.log"
        tls = workdir / "tls"
        assert main(["ca", "server-cert", "--ca", str(ca_dir), "--host", "localhost",
                     "--host", "127.0.0.1", "--out", str(tls)]) == 0
        self.ca_file = tls / "fleet-ca.crt"
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join([
            f"user {getpass.getuser()}", f"log_dest file {self.log}", "log_type all",
            "connection_messages true", "persistence false", "allow_anonymous false",
            f"listener {self.port} 127.0.0.1", f"cafile {self.ca_file}",
            f"certfile {tls / 'server.crt'}", f"keyfile {tls / 'server.key'}",
            "require_certificate true", "use_identity_as_username true", ""]))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited ({self.proc.returncode}): "
                                   f"{self.proc.stderr.read().decode()} {self.log_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not listen on {self.port}")
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def broker(tmp_path, ca_dir) -> Broker:
    b = Broker(tmp_path / "broker", ca_dir)
    try:
        yield b.start()
    finally:
        b.stop()
