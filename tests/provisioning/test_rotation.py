"""Rotating the evidence key: the chain carries the hand-over and still verifies; later records
are signed by the new key; the certificate follows the key; interruptions are finished."""
from __future__ import annotations

import os
import socket
import stat

import pytest

from firmware.evidence import records
from firmware.evidence.certs import CertificateMismatchError, check_spool_certificate, load_fleet_ca
from firmware.evidence.store import Evidence
from firmware.evidence.keys import DeviceKey, PublicKey
from firmware.evidence.ledger import Ledger
from firmware.evidence.ledger_files import ledger_files, read_lines
from firmware.evidence.spool import Spool
from firmware.evidence.verify import verify_path
from provisioning import unit_config
from provisioning.cli import main


def all_records(spool) -> list[records.Record]:
    return [ln.record for path in ledger_files(spool / "ledger") for ln in read_lines(path)]


def chain_keys(spool) -> list[PublicKey]:
    """The genesis key and every key a KEY record introduced (what the verifier trusts)."""
    return [PublicKey.from_b64(r.data["public_key"]) for r in all_records(spool)
            if r.type == records.KEY]


@pytest.fixture
def unit_with_spool(ca_dir, enroll, fill_spool, clock, tmp_path):
    """An enrolled unit that has recorded a session, with its spool and control socket in its
    configuration."""
    unit = enroll(ca_dir, "dr-unit-01")
    spool = tmp_path / "spool"
    unit_config.set_values(unit.config, {"spool": {"path": str(spool)},
                                         "control": {"socket": str(tmp_path / "ctl.sock")}})
    fill_spool(spool, DeviceKey.load(unit["device.key"]), clock, unit.device_id,
               unit["device.crt"].read_text())
    return unit, spool


def test_rotation_verifies_and_the_new_key_signs_what_follows(unit_with_spool, ca_dir, clock,
                                                              fill_spool, capsys):
    unit, spool = unit_with_spool
    old = DeviceKey.load(unit["device.key"])
    assert verify_path(spool).ok
    genesis_before = Spool(spool).read_device_info().public_key

    assert main(["device", "rotate-key", "--config", str(unit.config), "--ca", str(ca_dir),
                 "--owner", ""]) == 0
    out = capsys.readouterr().out
    assert "KEY record" in out and "new evidence certificate" in out

    new = DeviceKey.load(unit["device.key"])
    assert new.public != old.public
    assert stat.S_IMODE(os.stat(unit["device.key"]).st_mode) == 0o600
    assert not (unit.keys / "device.key.new").exists()
    report = verify_path(spool)
    assert report.ok, report.to_text()

    # the rotation record: signed by the old key, naming the new one, with its proof
    recs = all_records(spool)
    rotation = next(r for r in recs if r.type == records.KEY and r.data["reason"] == "rotation")
    assert rotation.body["key"] == old.public.fingerprint
    assert rotation.data["fingerprint"] == new.public.fingerprint
    assert rotation.data["previous_fingerprint"] == old.public.fingerprint
    after = [r for r in recs if r.seq > rotation.seq]
    assert after and all(r.body["key"] == new.public.fingerprint for r in after)

    # device.json: the genesis key stays the anchor; the certificate is the new key's
    info = Spool(spool).read_device_info()
    assert info.public_key == genesis_before == old.public.b64
    assert info.certificate == unit["device.crt"].read_text()
    roots = load_fleet_ca(unit["fleet-ca.crt"])
    certified = check_spool_certificate(info.certificate, roots, device_id=unit.device_id,
                                        evidence_keys=chain_keys(spool))
    assert certified.evidence_key == new.public
    with pytest.raises(CertificateMismatchError):  # it certifies the new key, not the old
        check_spool_certificate(info.certificate, roots, device_id=unit.device_id,
                                evidence_keys=[old.public])
    assert main(["device", "check", "--config", str(unit.config)]) == 0

    # the unit starts again with the new key and records: all verifies
    fill_spool(spool, new, clock, unit.device_id, unit["device.crt"].read_text())
    report = verify_path(spool)
    assert report.ok, report.to_text()
    later = [r for r in all_records(spool) if r.seq > rotation.seq]
    assert len(later) > len(after)
    assert all(r.body["key"] == new.public.fingerprint for r in later)


def test_rotation_seals_what_a_power_cut_left_first(unit_with_spool, clock):
    unit, spool = unit_with_spool
    ev = Evidence.open(spool, DeviceKey.load(unit["device.key"]), clock,
                       device_id=unit.device_id)
    sid = ev.start_session({"template": "test"})
    part = ev.new_file(sid, "cut.bin")
    part.write(b"x" * 1000)
    part.abandon()
    ev.ledger.close()  # the power goes: no SHUTDOWN, a .part left, the session open

    assert main(["device", "rotate-key", "--key", str(unit["device.key"]), "--spool",
                 str(spool), "--owner", ""]) == 0
    report = verify_path(spool)
    assert report.ok, report.to_text()
    assert (spool / "sessions" / sid / "cut.bin").is_file()
    assert any(n.kind == "recovered_session" for n in report.notes)


def test_an_interrupted_rotation_is_finished(unit_with_spool, clock, capsys):
    unit, spool = unit_with_spool
    old = DeviceKey.load(unit["device.key"])
    pending = DeviceKey.load_or_create(unit.keys / "device.key.new")
    with Ledger(spool / "ledger", old, unit.device_id, clock) as ledger:
        ledger.rotate_key(pending)  # ... and the power goes before the key file is replaced

    assert main(["device", "rotate-key", "--config", str(unit.config), "--owner", ""]) == 0
    assert "finished an interrupted rotation" in capsys.readouterr().out
    assert DeviceKey.load(unit["device.key"]).public == pending.public
    assert not (unit.keys / "device.key.new").exists()
    assert sum(r.type == records.KEY for r in all_records(spool)) == 2  # no second rotation
    with Evidence.open(spool, DeviceKey.load(unit["device.key"]), clock,
                       device_id=unit.device_id):
        pass
    assert verify_path(spool).ok


def test_a_key_that_does_not_sign_the_spool_is_refused(unit_with_spool, tmp_path, capsys):
    unit, spool = unit_with_spool
    stranger = DeviceKey.load_or_create(tmp_path / "stranger.key")
    before = all_records(spool)
    assert main(["device", "rotate-key", "--key", str(stranger.path), "--spool", str(spool),
                 "--owner", ""]) == 2
    assert "does not sign the ledger" in capsys.readouterr().err
    assert all_records(spool) == before


def test_rotation_waits_for_the_daemon_to_stop(unit_with_spool, tmp_path, capsys):
    unit, spool = unit_with_spool
    before = all_records(spool)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as daemon:
        daemon.bind(str(tmp_path / "ctl.sock"))
        daemon.listen(1)
        assert main(["device", "rotate-key", "--config", str(unit.config), "--owner", ""]) == 2
    assert "stop it first" in capsys.readouterr().err
    assert all_records(spool) == before


def test_rotation_pins_the_device_id_when_the_config_left_it_to_the_key(ca_dir, enroll,
                                                                       fill_spool, clock,
                                                                       tmp_path):
    """With [device] id empty the daemon derives the id from the key; after a rotation that
    would disown the spool, so the rotation writes the id down."""
    unit = enroll(ca_dir, "dr-unit-05")
    spool = tmp_path / "spool"
    unit_config.set_values(unit.config, {"device": {"id": ""}, "spool": {"path": str(spool)},
                                         "control": {"socket": ""}})
    fill_spool(spool, DeviceKey.load(unit["device.key"]), clock, "dr-unit-05", None)
    assert main(["device", "rotate-key", "--config", str(unit.config), "--owner", ""]) == 0
    assert unit_config.read_toml(unit.config)["device"]["id"] == "dr-unit-05"
