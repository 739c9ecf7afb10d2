"""``dualrec run`` with ``[device] fleet_ca``: an enrolled unit starts and puts its certificate
into the spool; a unit with a certificate from another CA refuses to start
(``firmware.unit.enrolment.check_enrolment``, docs/provisioning.md)."""
from __future__ import annotations

import pytest

import firmware.unit.appliance as appliance_module
from firmware.config.loading import replace
from firmware.cli.demo import demo_config
from firmware.errors import ConfigError
from firmware.evidence.spool import Spool


def unit_config(unit, tmp_path, fleet_ca):
    return replace(demo_config(tmp_path / "run"),
                   device={"id": unit.device_id, "key_file": str(unit["device.key"]),
                           "certificate": str(unit["device.crt"]), "fleet_ca": str(fleet_ca)})


def test_an_enrolled_unit_starts_and_publishes_its_certificate(ca_dir, enroll, tmp_path):
    unit = enroll(ca_dir, "dr-unit-01")
    config = unit_config(unit, tmp_path, ca_dir / "fleet-ca.crt")
    app = appliance_module.Appliance(config)
    try:
        info = Spool(config.spool.path).read_device_info()
        assert info.certificate == unit["device.crt"].read_text()
    finally:
        app.close()


def test_a_unit_from_another_fleet_refuses_to_start(ca_dir, other_ca_dir, enroll, tmp_path):
    unit = enroll(other_ca_dir, "dr-unit-01")
    with pytest.raises(ConfigError, match="does not chain to the fleet CA"):
        appliance_module.Appliance(unit_config(unit, tmp_path, ca_dir / "fleet-ca.crt"))
