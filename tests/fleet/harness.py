"""Test harness for the fleet: a real certificate authority, a real mosquitto started from the
project's config/mosquitto files, and a fake of our own DeviceHooks interface.

Not collected by pytest (no ``test_`` prefix); imported by conftest.py, the child agent and the
benchmark.
"""
from __future__ import annotations

import datetime as dt
import getpass
import ipaddress
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from firmware.protocol.mqtt.status import DeviceStatus, TelemetrySnapshot
from firmware.protocol.mqtt.vocabulary import LIVE_SETTINGS
from firmware.unit.fleet.hooks import Availability, ConfigAnswer, LogExcerpt, UnitAbilities

REPO = Path(__file__).resolve().parents[2]
PROJECT_CONF = REPO / "config" / "mosquitto" / "dualrec.conf"
PROJECT_ACL = REPO / "config" / "mosquitto" / "acl"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
OPERATOR_CN = "ops.fleet"      # the operator named in the project's ACL


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02,
               what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# -- certificates ------------------------------------------------------------------------------
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, key, cert: x509.Certificate) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    path.with_suffix(".key").chmod(0o600)


class Authority:
    """A CA that issues certificates (EC P-256, valid for a day)."""

    def __init__(self, path: Path, cn: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(minutes=5))
                     .not_valid_after(now + dt.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                  False, False), critical=True)
                     .add_extension(ski, critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.path = path.with_suffix(".crt")
        _write(path, self.key, self.cert)

    def issue(self, path: Path, cn: str, *, server: bool = False) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (x509.CertificateBuilder().subject_name(_name(cn))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.key.public_key()), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
        _write(path, key, builder.sign(self.key, hashes.SHA256()))
        return path.with_suffix(".crt"), path.with_suffix(".key")


class Pki:
    """The fleet CA (broker and units) and the operators' CA, with certificates on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.fleet = Authority(root / "fleet-ca", "dualrec test fleet CA")
        self.operators = Authority(root / "operators-ca", "dualrec test operators CA")
        self.server_cert, self.server_key = self.fleet.issue(root / "server", "localhost",
                                                             server=True)
        self._issued: dict[tuple[str, bool], tuple[Path, Path]] = {}
        self._lock = threading.Lock()

    @property
    def ca_file(self) -> str:
        """What clients trust the broker with."""
        return str(self.fleet.path)

    def unit(self, cn: str) -> tuple[str, str]:
        return self._get(cn, operator=False)

    def operator(self, cn: str = OPERATOR_CN) -> tuple[str, str]:
        return self._get(cn, operator=True)

    def _get(self, cn: str, operator: bool) -> tuple[str, str]:
        with self._lock:
            if (cn, operator) not in self._issued:
                ca = self.operators if operator else self.fleet
                sub = self.root / ("operators" if operator else "units")
                sub.mkdir(exist_ok=True)
                # a file name per CN: Path.with_suffix would make "meet.relay" and
                # "meet.watch" both "meet.crt", the later overwriting the earlier
                self._issued[(cn, operator)] = ca.issue(sub / cn.replace(".", "_"), cn)
            cert, key = self._issued[(cn, operator)]
            return str(cert), str(key)


# -- the broker --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_conf(text: str, *, unit_port: int, operator_port: int, etc: Path, data: Path,
                log: Path) -> str:
    """The project's broker config with its ports on loopback and its paths in a temp dir."""
    out = []
    for line in text.splitlines():
        if line.strip() == "listener 8883":
            line = f"listener {unit_port} 127.0.0.1"
        elif line.strip() == "listener 8884":
            line = f"listener {operator_port} 127.0.0.1"
        line = line.replace("/etc/mosquitto/dualrec/", f"{etc}/")
        line = line.replace("/var/lib/mosquitto/", f"{data}/")
        out.append(line)
    out.insert(0, f"user {getpass.getuser()}\nlog_dest file {log}")
    return "\n".join(out) + "\n"


class Broker:
    """mosquitto with the project's configuration and ACL, on two free loopback ports."""

    def __init__(self, workdir: Path, pki: Pki, *, extra_acl: str = "") -> None:
        self.dir = workdir
        self.pki = pki
        self.unit_port = free_port()
        self.operator_port = free_port()
        self.etc = workdir / "etc"
        self.data = workdir / "data"
        self.log = workdir / "mosquitto.log"
        self.conf = workdir / "mosquitto.conf"
        self.etc.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        for src, name in ((pki.fleet.path, "fleet-ca.crt"), (pki.operators.path,
                          "operators-ca.crt"), (pki.server_cert, "server.crt"),
                          (pki.server_key, "server.key")):
            shutil.copy(src, self.etc / name)
        (self.etc / "acl").write_text(PROJECT_ACL.read_text() + "\n" + extra_acl)
        self.conf.write_text(render_conf(PROJECT_CONF.read_text(), unit_port=self.unit_port,
                                         operator_port=self.operator_port, etc=self.etc,
                                         data=self.data, log=self.log))
        self.proc: subprocess.Popen | None = None

    @property
    def unit_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.unit_port}"

    @property
    def operator_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.operator_port}"

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        for port in (self.unit_port, self.operator_port):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited ({self.proc.returncode}): "
                                       f"{self.proc.stderr.read().decode()} "
                                       f"{self.log.read_text() if self.log.exists() else ''}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"mosquitto did not listen on {port}")
                    time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# -- raw clients (for what the operator tool does not do) --------------------------------------
@dataclass
class RawClient:
    """A plain paho client as a unit or operator, collecting what it receives."""

    client: mqtt.Client
    messages: list = field(default_factory=list)
    subacks: dict = field(default_factory=dict)
    pubacks: dict = field(default_factory=dict)
    connack: Any = None

    def wait_connected(self, timeout: float = 5.0) -> None:
        wait_until(lambda: self.connack is not None, timeout, what="CONNACK")
        assert not self.connack.is_failure, self.connack

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def raw_client(url_port: int, cert: str, key: str, ca: str, client_id: str = "",
               clean_start: bool = True, session_expiry: int = 0) -> RawClient:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=MQTTProtocolVersion.MQTTv5)
    c.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
    c.reconnect_delay_set(0.1, 0.5)
    raw = RawClient(c)
    c.on_connect = lambda cl, u, f, rc, p: setattr(raw, "connack", rc)
    c.on_message = lambda cl, u, m: raw.messages.append(m)
    c.on_subscribe = lambda cl, u, mid, rcs, p: raw.subacks.__setitem__(mid, rcs)
    c.on_publish = lambda cl, u, mid, rc, p: raw.pubacks.__setitem__(mid, rc)
    props = None
    if session_expiry:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry
    c.connect("127.0.0.1", url_port, keepalive=30, clean_start=clean_start, properties=props)
    c.loop_start()
    raw.wait_connected()
    return raw


# -- a fake of our own interface ---------------------------------------------------------------
class FakeHooks:
    """DeviceHooks for tests: records every call; state and answers are set by the test."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.state = DeviceStatus("idle", "")
        self.recording = False
        self.config_answer = ConfigAnswer(True, "")
        self.bundle_answer: tuple[bool, str] = (True, "")
        self.logs = "line one\nline two\n"
        self.previous_logs = "previous run\nwatchdog timeout\n"
        self.can_restart = Availability(True)
        self.can_reboot = Availability(True)
        self.chain_seq = 7
        self.snapshot_extra: dict[str, Any] = {}
        self.fail: dict[str, Exception] = {}
        self._lock = threading.Lock()

    def _call(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((name, args))
        if name in self.fail:
            raise self.fail[name]

    def called(self, name: str) -> list[tuple]:
        with self._lock:
            return [args for n, args in self.calls if n == name]

    def acting_calls(self) -> list[tuple[str, tuple]]:
        """Calls that change something on the unit."""
        with self._lock:
            return [(n, a) for n, a in self.calls if n in (
                "locate", "sync_now", "apply_config", "apply_config_bundle", "restart",
                "reboot")]

    def current_state(self) -> DeviceStatus:
        return self.state

    def telemetry(self) -> TelemetrySnapshot:
        self._call("telemetry")
        values = dict(disk_free_bytes=20_000_000_000, disk_total_bytes=64_000_000_000,
                      backlog_count=3, backlog_bytes=12_345_678, backlog_oldest_age_s=42.0,
                      cpu_temp_c=51.5, clock_synced=True, clock_offset_ms=1.5,
                      firmware="0.1.0", chain_seq=self.chain_seq, chain_hash="ab" * 32,
                      camera="ok", microphone="ok", pad="missing",
                      flags=("last-session:silent_answer",))
        values.update(self.snapshot_extra)
        return TelemetrySnapshot(**values)

    def is_recording(self) -> bool:
        return self.recording

    def abilities(self) -> UnitAbilities:
        return UnitAbilities(firmware="0.1.0", simulated=True, restart=self.can_restart,
                             reboot=self.can_reboot, journal=False,
                             live_settings=LIVE_SETTINGS)

    def locate(self, seconds: float) -> None:
        self._call("locate", seconds)

    def sync_now(self) -> dict:
        self._call("sync_now")
        return {"sync": "started", "backlog": {"count": 2, "bytes": 10, "oldest_age_s": 1.5,
                                               "sync": "on"}}

    def verify(self) -> dict:
        self._call("verify")
        return {"verdict": "intact", "records": 12, "head_seq": 12, "head_hash": "cd" * 32,
                "findings": [], "notes": [], "sessions": ["s1"], "files_checked": 4,
                "bytes_checked": 1000, "device_id": "dr-unit-a", "first_seq": 1}

    def apply_config(self, desired: dict, version: int) -> ConfigAnswer:
        self._call("apply_config", desired, version)
        return self.config_answer

    def apply_config_bundle(self, bundle: bytes) -> tuple[bool, str]:
        self._call("apply_config_bundle", bundle)
        return self.bundle_answer

    def config_status(self) -> dict:
        return {"effective": {"sha256": "ef" * 32, "set_config_version": 0, "bundle_serial": 0},
                "accepted": {"set_config_version": 0, "bundle_serial": 0}, "pending": False,
                "pending_keys": [], "applies": "at the next restart", "refused": []}

    def restart(self, force: bool) -> None:
        self._call("restart", force)

    def reboot(self, force: bool) -> None:
        self._call("reboot", force)

    def fetch_logs(self, lines: int, run: str) -> LogExcerpt:
        self._call("fetch_logs", lines, run)
        if run == "previous":
            return LogExcerpt(self.previous_logs, "journal", "")
        return LogExcerpt(self.logs, "process", "")
