"""The fleet's broker for ``dualrec demo --remote``: a real mosquitto on loopback with the
project's own configuration and ACL (config/mosquitto), and certificates made fresh for the demo
by provisioning's own functions (docs/provisioning.md): the fleet CA (the broker's server
certificate, the unit's TLS certificate whose CN is its device id) and the operators' CA (the
relay ``meet.relay`` and the back office's SMS sender ``sms.office``, both named in the
project's ACL).

Everything lives in one directory the caller owns (a temporary one): the CAs, the broker's
``etc`` (its certificates and ACL), its persistence and its log. The broker is started in a
session of its own (a Ctrl-C at the terminal reaches the demo, which stops the broker last, not
the broker first) and is told by the kernel to end when the demo's process dies
(``PR_SET_PDEATHSIG``, tied to the thread that starts it: start it from the main thread), so
no broker outlives the demo.
"""
from __future__ import annotations

import ctypes
import getpass
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from firmware.errors import DualrecError
from provisioning.ca import FleetCA, device_csr, key_pem, new_tls_key
from provisioning.files import write_file, write_private
from provisioning.operators import OperatorsCA, issue_operator

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "mosquitto"
RELAY_CN = "meet.relay"        # the relay's CN in the project's ACL (meet.<name>)
SMS_CN = "sms.office"          # the back office's SMS sender in the project's ACL
CA_DAYS = 2                    # the demo's CAs and certificates are thrown away after it
START_S = 10.0                 # the longest mosquitto may take to listen (wall seconds)
STOP_S = 10.0
PORT_TRIES = 3                 # a free port taken by someone else meanwhile: try others
PR_SET_PDEATHSIG = 1


class DemoSetupError(DualrecError, RuntimeError):
    """Something the remote demo needs is missing or would not start; the message says what
    and what to do."""


@dataclass(frozen=True)
class ClientFiles:
    """A TLS client's certificate and key, and the CA its broker's certificate is checked
    with."""

    cert: Path
    key: Path
    ca_file: Path


class DemoPki:
    """The demo's two CAs in ``root`` and the certificates issued from them on demand."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.fleet = FleetCA.create_root("dualrec demo fleet CA", days=CA_DAYS)
        self.fleet.save(self.root / "fleet-ca")
        self.operators = OperatorsCA.create("dualrec demo operators CA", days=CA_DAYS)
        self.operators.save(self.root / "operators-ca")
        self.fleet_ca = self.root / "fleet-ca" / "fleet-ca.crt"
        self.operators_ca = self.root / "operators-ca" / "operators-ca.crt"

    def server(self, out: Path) -> tuple[Path, Path]:
        """The broker's certificate for 127.0.0.1 and localhost (serverAuth) and its key."""
        key = new_tls_key()
        cert = self.fleet.issue_server(key.public_key(), ["127.0.0.1", "localhost"],
                                       days=CA_DAYS)
        return (write_file(out / "server.crt", self.fleet.chain_pem(cert)),
                write_private(out / "server.key", key_pem(key)))

    def unit(self, device_id: str) -> ClientFiles:
        """The unit's TLS certificate (clientAuth, CN = ``device_id``) from a CSR its own new
        key signed, as ``dualrec-provision device enroll`` makes it."""
        out = self.root / "unit"
        key = new_tls_key()
        cert = self.fleet.sign_device_csr(device_csr(key, device_id), "tls",
                                          device_id=device_id, days=CA_DAYS)
        key_path = write_private(out / "tls.key", key_pem(key))
        return ClientFiles(write_file(out / "tls.crt", self.fleet.chain_pem(cert)), key_path,
                           self.fleet_ca)

    def operator(self, name: str) -> ClientFiles:
        """An operator certificate (``meet.relay``, ``sms.office``) from the operators' CA."""
        issued = issue_operator(self.operators, name, self.root / "operators", days=CA_DAYS)
        assert issued.key is not None
        return ClientFiles(issued.certificate, issued.key, self.fleet_ca)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_conf(text: str, *, unit_port: int, operator_port: int, etc: Path, data: Path,
                log: Path) -> str:
    """The project's broker configuration with its two listeners on loopback ports and its
    paths in the demo's directory; the broker runs as this user and logs to a file."""
    out = [f"user {getpass.getuser()}", f"log_dest file {log}"]
    for line in text.splitlines():
        if line.strip() == "listener 8883":
            line = f"listener {unit_port} 127.0.0.1"
        elif line.strip() == "listener 8884":
            line = f"listener {operator_port} 127.0.0.1"
        out.append(line.replace("/etc/mosquitto/dualrec/", f"{etc}/")
                   .replace("/var/lib/mosquitto/", f"{data}/"))
    return "\n".join(out) + "\n"


def _dies_with_parent():
    """What the broker's process runs before exec: SIGTERM to it when the thread that started
    it dies (``prctl`` is looked up here, in the demo, so the child only calls it)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class DemoBroker:
    """mosquitto with the project's configuration and ACL on two free loopback ports: the
    units' listener (fleet CA) and the operators' (operators' CA). A context manager;
    :meth:`stop` is safe twice."""

    def __init__(self, workdir: Path, pki: DemoPki, *,
                 mosquitto: str | None = None) -> None:
        self.dir = Path(workdir)
        self.pki = pki
        self.mosquitto = mosquitto or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.etc, self.data = self.dir / "etc", self.dir / "data"
        self.log = self.dir / "mosquitto.log"
        self.conf = self.dir / "mosquitto.conf"
        self.unit_port = self.operator_port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def unit_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.unit_port}"

    @property
    def operator_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.operator_port}"

    def _lay_out(self) -> None:
        conf, acl = CONFIG_DIR / "dualrec.conf", CONFIG_DIR / "acl"
        if not conf.is_file() or not acl.is_file():
            raise DemoSetupError(f"{CONFIG_DIR} has no dualrec.conf and acl: the remote demo "
                                 "runs from the project's checkout (./dev demo --remote)")
        acl_text = acl.read_text(encoding="utf-8")
        for cn in (RELAY_CN, SMS_CN):
            if f"\nuser {cn}\n" not in f"\n{acl_text}\n":
                raise DemoSetupError(f"{acl} has no block for {cn}: the demo's relay and SMS "
                                     "sender need the project's ACL as shipped")
        self.etc.mkdir(parents=True, exist_ok=True)
        self.etc.chmod(0o700)
        self.data.mkdir(exist_ok=True)
        shutil.copy(self.pki.fleet_ca, self.etc / "fleet-ca.crt")
        shutil.copy(self.pki.operators_ca, self.etc / "operators-ca.crt")
        self.pki.server(self.etc)
        (self.etc / "acl").write_text(acl_text, encoding="utf-8")
        self._conf_text = conf.read_text(encoding="utf-8")

    def start(self) -> "DemoBroker":
        if not Path(self.mosquitto).is_file():
            raise DemoSetupError(f"mosquitto is not installed ({self.mosquitto} is missing): "
                                 "./dev demo installs it (Debian's mosquitto package)")
        self._lay_out()
        problem = ""
        for _ in range(PORT_TRIES):
            self.unit_port, self.operator_port = free_port(), free_port()
            self.conf.write_text(render_conf(
                self._conf_text, unit_port=self.unit_port, operator_port=self.operator_port,
                etc=self.etc, data=self.data, log=self.log), encoding="utf-8")
            problem = self._launch()
            if not problem:
                return self
        raise DemoSetupError(f"mosquitto would not start: {problem}")

    def _launch(self) -> str:
        """Start mosquitto and wait until both listeners accept; "" or what went wrong."""
        self.proc = subprocess.Popen([self.mosquitto, "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=_dies_with_parent())
        deadline = time.monotonic() + START_S
        for port in (self.unit_port, self.operator_port):
            while True:     # a process starting up sends no event: poll its port, bounded
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode(errors="replace") \
                        if self.proc.stderr else ""
                    self.stop()
                    return f"it exited ({err.strip()} {self.log_tail()})".strip()
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        self.stop()
                        return f"it did not listen on 127.0.0.1:{port} in {START_S:g} s"
                    time.sleep(0.02)
        return ""

    def log_tail(self, lines: int = 10) -> str:
        if not self.log.exists():
            return ""
        return " | ".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> "DemoBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
