"""Enrolment end to end with the development CA, through ``dualrec-provision``."""
from __future__ import annotations

import os
import pwd
import stat
import tomllib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from firmware.evidence.certs import (EVIDENCE, EVIDENCE_EKU, TLS, check_device_certificate,
                            load_fleet_ca, load_pem_chain_file)
from firmware.evidence.keys import DeviceKey
from provisioning.cli import main


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_ca_init_makes_a_private_ecdsa_ca(ca_dir):
    assert mode(ca_dir / "ca.key") == 0o600
    assert mode(ca_dir) == 0o700
    cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.public_key().curve.name == "secp256r1"
    assert (ca_dir / "fleet-ca.crt").read_bytes() == (ca_dir / "ca.crt").read_bytes()


def test_ca_init_never_overwrites_a_ca_key(ca_dir, capsys):
    before = (ca_dir / "ca.key").read_bytes()
    assert main(["ca", "init", "--out", str(ca_dir)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert (ca_dir / "ca.key").read_bytes() == before


def test_enrolment_end_to_end(ca_dir, enroll, capsys):
    unit = enroll(ca_dir, "dr-unit-01", "--broker", "mqtts://broker.example:8883",
                  "--bucket", "evidence-prod", "--endpoint", "https://s3.example.com",
                  "--org", "ICBC0101", "--channel", "B1", "--outlet", "OUT001")
    for name in ("device.key", "device.crt", "tls.key", "tls.crt", "fleet-ca.crt"):
        assert unit[name].is_file(), name
    assert mode(unit["device.key"]) == 0o600
    assert mode(unit["tls.key"]) == 0o600
    assert mode(unit.keys) == 0o700
    assert "enrolled dr-unit-01" in capsys.readouterr().out

    # the evidence key is a firmware.evidence.keys.DeviceKey, and its certificate certifies exactly it
    key = DeviceKey.load(unit["device.key"])
    roots = load_fleet_ca(unit["fleet-ca.crt"])
    assert roots[0] == x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    ev_chain = load_pem_chain_file(unit["device.crt"])
    ev = ev_chain[0]
    raw = ev.public_key().public_bytes(serialization.Encoding.Raw,
                                       serialization.PublicFormat.Raw)
    assert raw == key.public.raw
    assert ev.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "dr-unit-01"
    assert EVIDENCE_EKU in ev.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    ev.verify_directly_issued_by(roots[0])
    certified = check_device_certificate(ev_chain, roots, device_id="dr-unit-01",
                                         purpose=EVIDENCE, evidence_keys=key.public)
    assert certified.evidence_key == key.public and certified.chain_length == 2

    # the TLS certificate: ECDSA P-256, clientAuth, CN = device id, for the TLS key
    tls = load_pem_chain_file(unit["tls.crt"])[0]
    tls_key = serialization.load_pem_private_key(unit["tls.key"].read_bytes(), None)
    assert tls.public_key() == tls_key.public_key()
    assert tls.public_key().curve.name == "secp256r1"
    assert tls.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "dr-unit-01"
    usages = tls.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages
    check_device_certificate(load_pem_chain_file(unit["tls.crt"]), roots,
                             device_id="dr-unit-01", purpose=TLS,
                             tls_public_key=tls_key.public_key())

    cfg = tomllib.loads(unit.config.read_text())
    assert cfg["device"] == {"id": "dr-unit-01", "key_file": str(unit["device.key"]),
                             "certificate": str(unit["device.crt"]),
                             "fleet_ca": str(unit["fleet-ca.crt"])}
    assert cfg["mqtt"] == {"url": "mqtts://broker.example:8883",
                           "client_cert": str(unit["tls.crt"]),
                           "client_key": str(unit["tls.key"]),
                           "ca_file": str(unit["fleet-ca.crt"]), "branch": "OUT001"}
    assert cfg["sync"] == {"endpoint": "https://s3.example.com", "bucket": "evidence-prod",
                           "enabled": True}
    assert cfg["branch"] == {"org": "ICBC0101", "channel": "B1", "outlet": "OUT001"}

    assert main(["device", "check", "--config", str(unit.config)]) == 0
    out = capsys.readouterr().out
    assert "OK evidence certificate of dr-unit-01" in out and "OK tls certificate" in out


def test_enrolment_through_an_issuing_ca(ca_dir, tmp_path, enroll):
    depot = tmp_path / "depot"
    assert main(["ca", "issuing", "--ca", str(ca_dir), "--out", str(depot),
                 "--name", "depot 1"]) == 0
    unit = enroll(depot, "dr-unit-02")
    chain = load_pem_chain_file(unit["device.crt"])
    assert len(chain) == 2  # the unit's certificate, then the issuing CA's
    roots = load_fleet_ca(unit["fleet-ca.crt"])
    assert roots == load_fleet_ca(ca_dir / "fleet-ca.crt")
    certified = check_device_certificate(chain, roots, device_id="dr-unit-02",
                                         evidence_keys=DeviceKey.load(unit["device.key"]).public)
    assert certified.chain_length == 3 and "depot 1" in certified.issuer


def test_reenrolment_keeps_the_keys_and_the_operators_lines(ca_dir, enroll):
    unit = enroll(ca_dir, "dr-unit-03")
    key_before = unit["device.key"].read_bytes()
    tls_key_before = unit["tls.key"].read_bytes()
    serial_before = load_pem_chain_file(unit["device.crt"])[0].serial_number
    text = unit.config.read_text().replace("[device]",
                                           "[device]\n# set by the branch technician")
    unit.config.write_text(text + '\n[camera]\nfps = 25  # a slow counter\n')
    enroll(ca_dir, "dr-unit-03", "--outlet", "OUT777")
    assert unit["device.key"].read_bytes() == key_before
    assert unit["tls.key"].read_bytes() == tls_key_before
    assert load_pem_chain_file(unit["device.crt"])[0].serial_number != serial_before
    text = unit.config.read_text()
    assert "# set by the branch technician" in text and "fps = 25  # a slow counter" in text
    cfg = tomllib.loads(text)
    assert cfg["branch"] == {"outlet": "OUT777"} and cfg["camera"] == {"fps": 25}


@pytest.mark.parametrize("args, message", [
    (["--device-id", "DR_UNIT"], "lowercase letters"),
    (["--device-id", "dr-unit-04", "--broker", "http://x"], "mqtts://"),
    (["--device-id", "dr-unit-04", "--outlet", "OUT-1"], "letters and digits"),
    (["--device-id", "dr-unit-04", "--bucket", "No_Such"], "bucket name"),
])
def test_bad_enrolment_arguments_are_refused(ca_dir, tmp_path, capsys, args, message):
    rc = main(["device", "enroll", "--ca", str(ca_dir), "--out", str(tmp_path / "k"),
               "--owner", "", *args])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "k").exists()


def test_a_missing_ca_directory_says_what_to_do(tmp_path, capsys):
    rc = main(["device", "enroll", "--ca", str(tmp_path / "nope"), "--device-id", "dr-unit-05",
               "--out", str(tmp_path / "k")])
    assert rc == 2
    assert "dualrec-provision ca init" in capsys.readouterr().err


def test_key_files_go_to_the_service_user_when_it_exists(ca_dir, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can hand files to another user")
    nobody = pwd.getpwnam("nobody")
    keys = tmp_path / "keys"
    assert main(["device", "enroll", "--ca", str(ca_dir), "--device-id", "dr-unit-06",
                 "--out", str(keys), "--owner", "nobody"]) == 0
    for path in (keys, keys / "device.key", keys / "tls.key"):
        assert os.stat(path).st_uid == nobody.pw_uid


def test_a_missing_service_user_is_skipped_and_logged(ca_dir, tmp_path, caplog):
    caplog.set_level("INFO", logger="provisioning.files")
    assert main(["device", "enroll", "--ca", str(ca_dir), "--device-id", "dr-unit-07",
                 "--out", str(tmp_path / "keys"), "--owner", "no-such-user-here"]) == 0
    assert "no user 'no-such-user-here'" in caplog.text


def _config_has_provisioning_keys() -> bool:
    from firmware.config.model import Config, DeviceSection
    return hasattr(DeviceSection(), "fleet_ca") and hasattr(Config(), "branch")


@pytest.mark.skipif(not _config_has_provisioning_keys(),
                    reason="the configuration model has no [device] fleet_ca / [branch] yet")
def test_the_written_configuration_is_one_the_daemon_accepts(ca_dir, enroll):
    from firmware.config.loading import load_config
    unit = enroll(ca_dir, "dr-unit-08", "--broker", "mqtts://broker.example:8883",
                  "--bucket", "evidence-prod", "--org", "ICBC0101", "--channel", "B1",
                  "--outlet", "OUT001")
    config = load_config(unit.config)
    assert config.device.id == "dr-unit-08"
    assert config.device.fleet_ca == str(unit["fleet-ca.crt"])
    assert config.mqtt.client_cert == str(unit["tls.crt"]) and config.sync.enabled


def test_the_roster_commands_are_wired_in(tmp_path, capsys):
    assert main(["roster", "keygen", "--out", str(tmp_path / "roster.key")]) == 0
    assert mode(tmp_path / "roster.key") == 0o600
    assert "public key" in capsys.readouterr().out
