"""firmware.evidence.certs: what ties a unit's certificate to the fleet, and every way it can fail."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.evidence.certs import (EVIDENCE, TLS, CertificateError, CertificateExpiredError,
                            CertificateFormatError, CertificateMismatchError,
                            UntrustedCertificateError, check_device_certificate,
                            check_spool_certificate, load_fleet_ca, load_pem_chain,
                            load_pem_chain_file)
from firmware.evidence.keys import DeviceKey
from provisioning.ca import FleetCA, device_csr
from provisioning.cli import main

UTC = dt.timezone.utc


@pytest.fixture
def unit(ca_dir, enroll):
    return enroll(ca_dir, "dr-unit-01")


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def evidence_key(unit) -> DeviceKey:
    return DeviceKey.load(unit["device.key"])


def test_the_enrolled_certificate_passes(unit):
    roots = load_fleet_ca(unit["fleet-ca.crt"])
    got = check_device_certificate(unit["device.crt"].read_bytes(), roots,
                                   device_id="dr-unit-01", evidence_keys=evidence_key(unit).public)
    assert got.purpose == EVIDENCE and got.device_id == "dr-unit-01"


def test_a_certificate_from_another_ca_is_rejected(unit, other_ca_dir, enroll, capsys):
    foreign = enroll(other_ca_dir, "dr-unit-09")
    roots = load_fleet_ca(unit["fleet-ca.crt"])
    with pytest.raises(UntrustedCertificateError) as err:
        check_device_certificate(foreign["device.crt"].read_bytes(), roots,
                                 device_id="dr-unit-09")
    assert err.value.reason == "untrusted"
    assert "does not chain to the fleet CA" in str(err.value)
    assert "some other CA" in str(err.value)
    with pytest.raises(UntrustedCertificateError):
        check_device_certificate(foreign["tls.crt"].read_bytes(), roots,
                                 device_id="dr-unit-09", purpose=TLS)
    # the same through the CLI: exit 1, refused, with the reason
    assert main(["device", "check", "--device-id", "dr-unit-09",
                 "--fleet-ca", str(unit["fleet-ca.crt"]), "--key", str(foreign["device.key"]),
                 "--certificate", str(foreign["device.crt"])]) == 1
    assert "REFUSED (untrusted)" in capsys.readouterr().out


def test_same_name_other_ca_is_rejected(ca_dir):
    """A CA that copies the fleet CA's name is still refused: the signature decides."""
    real = FleetCA.load(ca_dir)
    fake = FleetCA.create_root("test fleet CA")
    cert = fake.sign_device_csr(device_csr(Ed25519PrivateKey.generate(), "dr-unit-01"),
                                EVIDENCE, device_id="dr-unit-01")
    assert cert.issuer == real.cert.subject
    with pytest.raises(UntrustedCertificateError):
        check_device_certificate([cert], [real.root], device_id="dr-unit-01")


def test_an_expired_certificate_is_rejected(ca_dir, unit):
    roots = load_fleet_ca(unit["fleet-ca.crt"])
    chain = load_pem_chain_file(unit["device.crt"])
    later = chain[0].not_valid_after_utc + dt.timedelta(days=1)
    with pytest.raises(CertificateExpiredError) as err:
        check_device_certificate(chain, roots, device_id="dr-unit-01", at=later)
    assert err.value.reason == "expired" and "expired on" in str(err.value)
    # a unit whose clock is not set yet checks everything but the dates
    check_device_certificate(chain, roots, device_id="dr-unit-01", at=later, check_dates=False)

    # and one really issued in the past, checked now
    ca = FleetCA.load(ca_dir)
    now = dt.datetime.now(UTC)
    old = (x509.CertificateBuilder().subject_name(chain[0].subject).issuer_name(ca.cert.subject)
           .public_key(chain[0].public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - dt.timedelta(days=400))
           .not_valid_after(now - dt.timedelta(days=30)))
    for ext in chain[0].extensions:
        old = old.add_extension(ext.value, ext.critical)
    expired = old.sign(ca.key, hashes.SHA256())
    with pytest.raises(CertificateExpiredError):
        check_device_certificate([expired], roots, device_id="dr-unit-01")


def test_a_certificate_not_yet_valid_is_rejected(unit):
    roots = load_fleet_ca(unit["fleet-ca.crt"])
    chain = load_pem_chain_file(unit["device.crt"])
    before = chain[0].not_valid_before_utc - dt.timedelta(days=1)
    with pytest.raises(CertificateExpiredError) as err:
        check_device_certificate(chain, roots, device_id="dr-unit-01", at=before)
    assert err.value.reason == "not_yet_valid"


def test_another_units_certificate_is_rejected(unit, ca_dir, enroll):
    other = enroll(ca_dir, "dr-unit-02")
    roots = load_fleet_ca(unit["fleet-ca.crt"])
    with pytest.raises(CertificateMismatchError) as err:
        check_device_certificate(other["device.crt"].read_bytes(), roots,
                                 device_id="dr-unit-01")
    assert err.value.reason == "name_mismatch" and "'dr-unit-02'" in str(err.value)
    with pytest.raises(CertificateMismatchError) as err:
        check_device_certificate(other["device.crt"].read_bytes(), roots,
                                 device_id="dr-unit-02", evidence_keys=evidence_key(unit).public)
    assert err.value.reason == "key_mismatch"


def test_certificates_are_only_good_for_their_purpose(unit):
    roots = load_fleet_ca(unit["fleet-ca.crt"])
    with pytest.raises(CertificateMismatchError) as err:
        check_device_certificate(unit["tls.crt"].read_bytes(), roots, device_id="dr-unit-01",
                                 purpose=EVIDENCE)
    assert err.value.reason == "usage"
    with pytest.raises(CertificateMismatchError) as err:
        check_device_certificate(unit["device.crt"].read_bytes(), roots,
                                 device_id="dr-unit-01", purpose=TLS)
    assert err.value.reason == "usage"
    with pytest.raises(CertificateMismatchError):  # a CA is not a unit
        check_device_certificate(unit["fleet-ca.crt"].read_bytes(), roots,
                                 device_id="test fleet CA")


def test_a_changed_certificate_is_rejected(unit):
    roots = load_fleet_ca(unit["fleet-ca.crt"])
    der = bytearray(load_pem_chain_file(unit["device.crt"])[0].public_bytes(
        serialization.Encoding.DER))
    der[-10] ^= 0x01  # inside the signature
    changed = x509.load_der_x509_certificate(bytes(der))
    with pytest.raises(UntrustedCertificateError):
        check_device_certificate([changed], roots, device_id="dr-unit-01")


def test_an_issuing_ca_must_come_with_the_chain(ca_dir, tmp_path, enroll):
    depot = tmp_path / "depot"
    assert main(["ca", "issuing", "--ca", str(ca_dir), "--out", str(depot),
                 "--name", "depot 1"]) == 0
    unit = enroll(depot, "dr-unit-03")
    roots = load_fleet_ca(ca_dir / "fleet-ca.crt")
    leaf_only = load_pem_chain_file(unit["device.crt"])[:1]
    with pytest.raises(UntrustedCertificateError):
        check_device_certificate(leaf_only, roots, device_id="dr-unit-03")


def test_spool_certificate_check(unit):
    roots = load_fleet_ca(unit["fleet-ca.crt"])
    key = evidence_key(unit).public
    got = check_spool_certificate(unit["device.crt"].read_text(), roots,
                                  device_id="dr-unit-01", evidence_keys=[DeviceKey.generate()
                                                                         .public, key])
    assert got.evidence_key == key
    with pytest.raises(CertificateError) as err:
        check_spool_certificate(None, roots, device_id="dr-unit-01", evidence_keys=[key])
    assert err.value.reason == "no_certificate"


def test_unusable_files_are_format_errors(unit, tmp_path):
    with pytest.raises(CertificateFormatError):
        load_pem_chain(b"hello", "x.pem")
    with pytest.raises(CertificateFormatError):
        load_fleet_ca(unit["device.crt"])  # not a CA
    with pytest.raises(CertificateFormatError):
        load_pem_chain_file(tmp_path / "missing.pem")
    with pytest.raises(CertificateFormatError):
        check_device_certificate(unit["device.crt"].read_bytes(), [], device_id="dr-unit-01")
    assert issubclass(CertificateFormatError, ValueError)
