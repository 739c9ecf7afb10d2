"""``dualrec verify --fleet-ca``: a spool whose device certificate does not tie its key to the
fleet is a finding (``untrusted_certificate``). Skipped until the verifier has the option
(``verify_path(..., fleet_ca=[certificates])``, docs/provisioning.md)."""
from __future__ import annotations

import inspect
import json

import pytest

from firmware.evidence.certs import load_fleet_ca
from firmware.evidence.keys import DeviceKey
from firmware.evidence.spool import DeviceInfo, Spool
from firmware.evidence.verify import verify_path
from provisioning.cli import main as provision

pytestmark = pytest.mark.skipif("fleet_ca" not in inspect.signature(verify_path).parameters,
                                reason="the verifier has no fleet_ca option yet")


def kinds(report) -> set[str]:
    return {f.kind for f in report.findings}


@pytest.fixture
def recorded(ca_dir, enroll, fill_spool, clock, tmp_path):
    def _recorded(ca, device_id: str = "dr-unit-01", certificate: bool = True):
        unit = enroll(ca, device_id)
        spool = tmp_path / f"spool-{device_id}"
        fill_spool(spool, DeviceKey.load(unit["device.key"]), clock, device_id,
                   unit["device.crt"].read_text() if certificate else None)
        return unit, spool
    return _recorded


def test_an_enrolled_units_spool_verifies(recorded, ca_dir):
    unit, spool = recorded(ca_dir)
    report = verify_path(spool, fleet_ca=load_fleet_ca(ca_dir / "fleet-ca.crt"))
    assert report.ok, report.to_text()


def test_a_spool_certified_by_another_ca_is_a_finding(recorded, ca_dir, other_ca_dir, capsys):
    from firmware.cli.main import main as dualrec
    _, spool = recorded(other_ca_dir, "dr-unit-01")
    report = verify_path(spool, fleet_ca=load_fleet_ca(ca_dir / "fleet-ca.crt"))
    assert "untrusted_certificate" in kinds(report)
    assert not report.ok
    capsys.readouterr()
    assert dualrec(["verify", str(spool), "--fleet-ca", str(ca_dir / "fleet-ca.crt"),
                    "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert any(f["kind"] == "untrusted_certificate" for f in found["findings"])


def test_a_certificate_swapped_into_device_json_is_a_finding(recorded, ca_dir, enroll):
    """Another unit's genuine certificate does not certify this spool's key."""
    _, spool = recorded(ca_dir, "dr-unit-01")
    other = enroll(ca_dir, "dr-unit-02")
    s = Spool(spool)
    info = s.read_device_info()
    s.write_device_info(DeviceInfo(info.device_id, info.public_key,
                                   other["device.crt"].read_text()))
    report = verify_path(spool, fleet_ca=load_fleet_ca(ca_dir / "fleet-ca.crt"))
    assert "untrusted_certificate" in kinds(report)


def test_a_spool_without_a_certificate_is_a_finding_only_when_asked(recorded, ca_dir):
    _, spool = recorded(ca_dir, certificate=False)
    assert verify_path(spool).ok
    report = verify_path(spool, fleet_ca=load_fleet_ca(ca_dir / "fleet-ca.crt"))
    assert "untrusted_certificate" in kinds(report)


def test_a_rotated_spool_verifies_with_its_new_certificate(recorded, ca_dir):
    unit, spool = recorded(ca_dir)
    assert provision(["device", "rotate-key", "--key", str(unit["device.key"]), "--spool",
                      str(spool), "--ca", str(ca_dir), "--certificate",
                      str(unit["device.crt"]), "--owner", ""]) == 0
    report = verify_path(spool, fleet_ca=load_fleet_ca(ca_dir / "fleet-ca.crt"))
    assert report.ok, report.to_text()
