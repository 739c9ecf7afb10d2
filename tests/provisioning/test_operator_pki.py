"""The operators' CA and operator certificates from ``dualrec-provision operator``, used against
a real mosquitto with the project's configuration: the right usage and names, the ACL block,
and each CA opening only its own listener; and the broker runbook of docs/provisioning.md run
as written, with mosquitto dropping to its own user."""
from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.cli import main
from provisioning.operators import OPERATOR_URN, acl_block, add_to_acl, check_operator_name
from provisioning.errors import ProvisioningError
from tests.fleet.harness import MOSQUITTO, PROJECT_ACL, PROJECT_CONF, Broker, Pki, free_port, \
    raw_client, wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def operators_ca(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("operators") / "ca"
    assert main(["operator", "ca-init", "--out", str(out), "--name", "test operators CA"]) == 0
    return out


def issue(ca: Path, name: str, out: Path, *extra: str) -> tuple[Path, Path]:
    assert main(["operator", "issue", "--ca", str(ca), "--name", name, "--out", str(out),
                 *extra]) == 0
    return out / f"{name}.crt", out / f"{name}.key"


def test_an_operator_certificate_is_for_client_auth_only_and_names_the_operator(
        operators_ca, tmp_path, capsys):
    assert (operators_ca / "ca.key").stat().st_mode & 0o777 == 0o600
    ca = x509.load_pem_x509_certificate((operators_ca / "operators-ca.crt").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    crt, key = issue(operators_ca, "alice.ops", tmp_path)
    assert "user alice.ops\ntopic read dualrec/v1/devices/#" in capsys.readouterr().out
    assert key.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice.ops"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign and not usage.key_encipherment
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [OPERATOR_URN +
                                                                        "alice.ops"]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc < __import__(
        "datetime").timedelta(days=831)


@pytest.mark.parametrize("name", ["dr-unit-a", "opsfleet", "Ops.Fleet", "ops..fleet", ".ops",
                                  "ops.", "ops.+", "ops.#", "ops/x.y", "a." + "b" * 64,
                                  "ops .fleet", "-ops.fleet"])
def test_names_that_could_be_a_unit_or_a_wildcard_are_refused(name):
    with pytest.raises(ProvisioningError, match="at least one '.'"):
        check_operator_name(name)


def test_a_csr_keeps_the_key_with_the_operator_and_must_name_them(operators_ca, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ci.ops")]))
           .sign(key, hashes.SHA256()))
    (tmp_path / "ci.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    crt, _ = issue(operators_ca, "ci.ops", tmp_path / "out", "--csr", str(tmp_path / "ci.csr"))
    assert not (tmp_path / "out" / "ci.ops.key").exists()
    assert x509.load_pem_x509_certificate(crt.read_bytes()).public_key() == key.public_key()
    assert main(["operator", "issue", "--ca", str(operators_ca), "--name", "bob.ops",
                 "--out", str(tmp_path / "b"), "--csr", str(tmp_path / "ci.csr")]) == 2


def test_the_fleet_ca_is_never_taken_for_the_operators_ca(ca_dir, operators_ca, tmp_path,
                                                          capsys):
    assert main(["operator", "issue", "--ca", str(ca_dir), "--name", "alice.ops",
                 "--out", str(tmp_path)]) == 2
    assert "is the fleet CA" in capsys.readouterr().err
    assert main(["device", "enroll", "--ca", str(operators_ca), "--device-id", "dr-x-01",
                 "--out", str(tmp_path / "unit"), "--owner", ""]) == 2
    assert main(["operator", "ca-init", "--out", str(operators_ca)]) == 2     # never over a key


def test_the_acl_gets_one_block_per_operator_and_keeps_its_mode(tmp_path):
    acl = tmp_path / "acl"
    shutil.copy(PROJECT_ACL, acl)
    acl.chmod(0o640)
    assert add_to_acl(acl, "alice.ops") is True
    assert add_to_acl(acl, "alice.ops") is False
    assert acl.read_text().count("user alice.ops\n") == 1
    assert acl.read_text().endswith(acl_block("alice.ops"))
    assert acl.stat().st_mode & 0o777 == 0o640


def test_each_ca_opens_only_its_own_listener_and_the_acl_grants_the_role(
        operators_ca, tmp_path, capsys):
    pki = Pki(tmp_path / "pki")                 # the fleet CA, the broker's certificate
    broker = Broker(tmp_path / "broker", pki)
    shutil.copy(operators_ca / "operators-ca.crt", broker.etc / "operators-ca.crt")
    alice_crt, alice_key = issue(operators_ca, "alice.ops", tmp_path / "alice", "--acl",
                                 str(broker.etc / "acl"))
    eve_crt, eve_key = issue(operators_ca, "eve.ops", tmp_path / "eve")   # not in the ACL
    broker.start()
    try:
        alice = raw_client(broker.operator_port, str(alice_crt), str(alice_key), pki.ca_file)
        unit_crt, unit_key = pki.unit("dr-unit-a")
        unit = raw_client(broker.unit_port, unit_crt, unit_key, pki.ca_file)
        mid = alice.client.subscribe("dualrec/v1/devices/+/state", qos=1)[1]
        wait_until(lambda: mid in alice.subacks, what="SUBACK")
        assert not alice.subacks[mid][0].is_failure
        unit.client.publish("dualrec/v1/devices/dr-unit-a/state", b"{}", qos=1)
        wait_until(lambda: alice.messages, what="the unit's state at the operator")
        eve = raw_client(broker.operator_port, str(eve_crt), str(eve_key), pki.ca_file)
        cmd = "dualrec/v1/devices/dr-unit-a/cmd"
        ok, refused = (c.client.publish(cmd, b'{"v":1,"id":"p-1","command":"ping"}',
                                        qos=1).mid for c in (alice, eve))
        wait_until(lambda: ok in alice.pubacks and refused in eve.pubacks, what="PUBACKs")
        assert not alice.pubacks[ok].is_failure
        assert eve.pubacks[refused].is_failure         # a certificate is not a role: 0x87
        for c in (alice, unit, eve):
            c.close()
        assert _connack(broker.operator_port, alice_crt, alice_key, pki.ca_file)
        assert _connack(broker.unit_port, unit_crt, unit_key, pki.ca_file)
        for port, crt, key in ((broker.unit_port, alice_crt, alice_key),
                               (broker.operator_port, unit_crt, unit_key)):
            with pytest.raises((ssl.SSLError, ConnectionError)):
                _connack(port, crt, key, pki.ca_file)
    finally:
        broker.stop()


CONNECT = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"   # MQTT 3.1.1, clean, no id


def _connack(port: int, cert, key, ca: str) -> bool:
    """A TLS connection with a client certificate and a CONNECT: True when the broker answers
    CONNACK; a refused certificate fails in the handshake or at the first read (TLS 1.3)."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(str(cert), str(key))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.settimeout(5)
            tls.sendall(CONNECT)
            first = tls.recv(1)
            if not first:
                raise ConnectionError("closed without an answer")
            return first == b"\x20"


# -- the runbook -------------------------------------------------------------------------------
def runbook() -> str:
    text = (REPO / "docs" / "provisioning.md").read_text()
    block = re.search(r"<!-- runbook:broker-files -->\n```sh\n(.*?)```", text, re.S)
    assert block, "docs/provisioning.md has no runbook block"
    return block.group(1)


@pytest.fixture
def broker_root():
    """A directory mosquitto's own user can reach (pytest's tmp_path is 0700 root's)."""
    root = Path(tempfile.mkdtemp(prefix="dualrec-runbook-", dir="/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root)


def _render(conf: Path, etc: Path, data: Path, unit_port: int, op_port: int) -> None:
    text = conf.read_text()
    text = text.replace("listener 8883", f"listener {unit_port} 127.0.0.1")
    text = text.replace("listener 8884", f"listener {op_port} 127.0.0.1")
    text = text.replace("/etc/mosquitto/dualrec/", f"{etc}/").replace("/var/lib/mosquitto/",
                                                                       f"{data}/")
    conf.write_text("log_dest stderr\n" + text)


def test_the_broker_runbook_as_written_lets_mosquitto_drop_to_its_user(
        broker_root, operators_ca, tmp_path):
    pki = Pki(tmp_path / "pki")
    files = tmp_path / "files"
    files.mkdir()
    for src, name in ((pki.fleet.path, "fleet-ca.crt"), (pki.server_cert, "server.crt"),
                      (pki.server_key, "server.key"),
                      (operators_ca / "operators-ca.crt", "operators-ca.crt")):
        shutil.copy(src, files / name)
    (files / "server.key").chmod(0o600)                 # as dualrec-provision writes it
    etc, data, conf = broker_root / "etc", broker_root / "data", broker_root / "mosquitto.conf"
    env = dict(os.environ, ETC=str(etc), DATA=str(data), CONF=str(conf), FILES=str(files),
               SRC=str(REPO))
    subprocess.run(["sh", "-e", "-c", runbook()], env=env, check=True, timeout=30)
    assert conf.read_text() == PROJECT_CONF.read_text()
    unit_port, op_port = free_port(), free_port()
    _render(conf, etc, data, unit_port, op_port)
    key = etc / "server.key"
    key.chmod(0o600)                       # the key as it comes, root's only: what went wrong
    shutil.chown(key, "root", "root")
    refused = subprocess.run([MOSQUITTO, "-c", str(conf)], capture_output=True, text=True,
                             timeout=30)
    assert refused.returncode != 0 and "server.key" in refused.stderr, refused.stderr
    key.chmod(0o640)
    shutil.chown(key, "root", "mosquitto")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: _listening(unit_port) and _listening(op_port) or proc.poll(),
                   timeout=15, what="mosquitto listening")
        assert proc.poll() is None, proc.stderr.read()
        user = subprocess.run(["ps", "-o", "user=", "-p", str(proc.pid)], capture_output=True,
                              text=True).stdout.strip()
        assert user == "mosquitto"
        cert, key = pki.unit("dr-unit-a")
        unit = raw_client(unit_port, cert, key, pki.ca_file)
        info = unit.client.publish("dualrec/v1/devices/dr-unit-a/state", b"{}", qos=1,
                                   retain=True)
        wait_until(lambda: info.mid in unit.pubacks, what="PUBACK")
        unit.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        err = proc.stderr.read()
        proc.stderr.close()
    assert (data / "mosquitto.db").exists(), err       # it saved as its own user
    assert "Error" not in err, err


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False
