"""Configuration bundles: signed by the back office, checked as a unit checks them, and the
office's `dualrec-provision config sign|verify`."""
from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from remote_config_unit import BRANCH, DEVICE, insurer_public_key, make_bundle

from firmware.config.bundle import (BundleFormatError, BundleRefusedError,
                                    BundleSignatureError, sign_config_bundle,
                                    verify_config_bundle)
from firmware.evidence.keys import DeviceKey
from firmware.people.signed_roster import sign_roster, verify_signed_roster
from firmware.people.errors import RosterFormatError
from provisioning.cli import main as provision

CHANGES = {"sync": {"endpoint": "https://s3.insurer.example", "bucket": "evidence-2",
                    "keep_local_days": 7.5},
           "mqtt": {"telemetry_interval_s": 30.0}}
NOW = dt.datetime(2025, 6, 1, 8, 0, tzinfo=dt.timezone.utc)


def test_round_trip(backoffice: DeviceKey):
    raw = make_bundle(backoffice, CHANGES, 7, branches=(BRANCH,), issued=NOW,
                      expires=NOW + dt.timedelta(days=30))
    envelope = json.loads(raw)
    assert set(envelope) == {"format", "key", "signature", "body"}
    assert envelope["format"] == "dualrec-config-bundle-v1"
    assert envelope["key"] == backoffice.public.fingerprint
    assert json.loads(envelope["body"])["config"]["sync"]["keep_local_days"] == 7.5
    bundle = verify_config_bundle(raw, backoffice.public)
    assert (bundle.serial, bundle.issued, bundle.devices, bundle.branches) == (
        7, NOW, (DEVICE,), (BRANCH,))
    assert bundle.config == CHANGES
    bundle.check_for(DEVICE, "", NOW)
    bundle.check_for("dr-unit-b", BRANCH, NOW)
    # re-indenting the envelope keeps it valid: the body text is what is signed
    assert verify_config_bundle(json.dumps(envelope).encode(), backoffice.public).serial == 7


@pytest.mark.parametrize("edit", [
    lambda body: body["config"]["sync"].update(endpoint="https://evil.example"),
    lambda body: body.update(serial=8),
    lambda body: body["scope"]["devices"].append("dr-unit-z"),
    lambda body: body.pop("expires"),
], ids=["endpoint", "serial", "scope", "expires"])
def test_a_forged_bundle_is_refused(backoffice: DeviceKey, edit):
    envelope = json.loads(make_bundle(backoffice, CHANGES, 7, issued=NOW, expires=NOW))
    body = json.loads(envelope["body"])
    edit(body)
    envelope["body"] = json.dumps(body)
    with pytest.raises(BundleSignatureError, match="changed after the back office signed it"):
        verify_config_bundle(json.dumps(envelope).encode(), backoffice.public)


def test_another_keys_bundle_is_refused(backoffice: DeviceKey, intruder: DeviceKey):
    raw = make_bundle(intruder, CHANGES, 7)
    with pytest.raises(BundleSignatureError, match="signed by another key") as info:
        verify_config_bundle(raw, backoffice.public)
    assert intruder.public.fingerprint in str(info.value)
    envelope = json.loads(raw)
    envelope["key"] = backoffice.public.fingerprint      # claiming the right key does not help
    with pytest.raises(BundleSignatureError):
        verify_config_bundle(json.dumps(envelope).encode(), backoffice.public)


def test_a_roster_signature_never_passes_for_a_bundle(backoffice: DeviceKey):
    """The same key signs rosters and bundles, under different contexts and formats."""
    from tests.people.conftest import roster_body
    roster = json.loads(sign_roster(roster_body(), backoffice.sign, backoffice.public))
    as_bundle = {"format": "dualrec-config-bundle-v1", "key": roster["key"],
                 "signature": roster["signature"], "body": json.dumps(roster["roster"])}
    with pytest.raises(BundleSignatureError):
        verify_config_bundle(json.dumps(as_bundle).encode(), backoffice.public)
    bundle = json.loads(make_bundle(backoffice, CHANGES, 7))
    with pytest.raises(RosterFormatError):
        verify_signed_roster(json.dumps(bundle).encode(), backoffice.public)


@pytest.mark.parametrize("config, why", [
    ({"spool": {"path": "/tmp/elsewhere"}}, "[spool] path: local setting"),
    ({"device": {"id": "dr-evil"}}, "[device] id: local setting"),
    ({"control": {"socket": "/etc/passwd"}}, "[control] socket: local setting"),
    ({"people": {"backoffice_public_key": "A" * 43 + "="}}, "backoffice_public_key: local"),
    ({"drivers": {"backend": "sim"}}, "[drivers] backend: local setting"),
    ({"mqtt": {"url": "mqtts://evil:8883"}}, "[mqtt] url: local setting"),
    ({"sync": {"keep_local_days": -1}}, "keep_local_days: must be between"),
    ({"sync": {"nonsense": 1}}, "unknown key"),
])
def test_a_bundle_never_carries_local_keys_or_bad_values(backoffice: DeviceKey, config, why):
    with pytest.raises(BundleFormatError, match="refused") as info:
        make_bundle(backoffice, config, 7)     # the office never signs it
    assert why in str(info.value)
    envelope = json.loads(make_bundle(backoffice, {}, 7))
    body = json.loads(envelope["body"])
    body["config"] = config                    # nor does a unit take one signed regardless
    text = json.dumps(body)
    envelope.update(body=text, signature=base64.b64encode(backoffice.sign(
        b"dualrec-config-bundle-v1\n" + text.encode())).decode())
    with pytest.raises(BundleFormatError) as info:
        verify_config_bundle(json.dumps(envelope).encode(), backoffice.public)
    assert why in str(info.value)


@pytest.mark.parametrize("body, why", [
    ({"serial": 0}, "serial must be"), ({"serial": True}, "serial must be"),
    ({"serial": 2**60}, "serial must be"), ({"issued": "yesterday"}, "issued must be"),
    ({"expires": "2020-01-01T00:00:00Z"}, "before issued"),
    ({"scope": {"devices": [], "branches": []}}, "names no device"),
    ({"scope": {"devices": ["../../etc"]}}, "scope.devices"),
    ({"scope": {"fleet": True}}, "scope must be"), ({"config": []}, "config must be"),
    ({"extra": 1}, "unknown ['extra']"),
])
def test_malformed_bodies_are_refused(backoffice: DeviceKey, body, why):
    good = {"serial": 3, "issued": "2025-06-01T08:00:00Z", "scope": {"devices": [DEVICE]},
            "config": {}}
    with pytest.raises(BundleFormatError) as info:
        sign_config_bundle({**good, **body}, backoffice.sign, backoffice.public)
    assert why in str(info.value)


def test_scope_and_expiry(backoffice: DeviceKey):
    bundle = verify_config_bundle(make_bundle(backoffice, {}, 4, devices=("dr-unit-b",),
                                              branches=("0999",), issued=NOW,
                                              expires=NOW + dt.timedelta(hours=1)),
                                  backoffice.public)
    with pytest.raises(BundleRefusedError, match="not this unit \\(dr-unit-a, branch 0451\\)"):
        bundle.check_for(DEVICE, BRANCH, NOW)
    with pytest.raises(BundleRefusedError, match="branch none"):
        bundle.check_for(DEVICE, "", NOW)
    bundle.check_for("dr-unit-b", "", NOW + dt.timedelta(hours=1))
    with pytest.raises(BundleRefusedError, match="expired at 2025-06-01T09:00:00Z"):
        bundle.check_for("dr-unit-b", "", NOW + dt.timedelta(hours=1, seconds=1))


@pytest.mark.parametrize("raw, why", [
    (b"", "not JSON"), (b"\xff", "not JSON"), (b"[" * 60_000, "not JSON"),
    (b'{"format": "x"}', "expected the keys"), (b"x" * 70_000, "at most"),
    (b'{"format":"dualrec-config-bundle-v1","key":"","signature":"!","body":""}',
     "not base64"),
    (b'{"format":"dualrec-config-bundle-v1","key":"","signature":"","body":{}}',
     "must be a JSON text"),
])
def test_garbage_is_refused(backoffice: DeviceKey, raw, why):
    with pytest.raises(BundleFormatError) as info:
        verify_config_bundle(raw, backoffice.public)
    assert why in str(info.value)


def test_the_office_signs_and_verifies_from_the_command_line(tmp_path, capsys):
    key = tmp_path / "bo.key"
    assert provision(["roster", "keygen", "--out", str(key)]) == 0
    changes = tmp_path / "changes.toml"
    changes.write_text('[sync]\nendpoint = "https://s3.b.example"\nkeep_local_days = 14\n'
                       '[mqtt]\nkeepalive_s = 60\n')
    pem = insurer_public_key(tmp_path, "insurer-b")
    out = tmp_path / "bundle.json"
    capsys.readouterr()
    assert provision(["config", "sign", "--key", str(key), "--serial", "12", "--in",
                      str(changes), "--out", str(out), "--device", DEVICE, "--branch", BRANCH,
                      "--expires", "2099-12-31", "--inline-insurer-key", str(pem)]) == 0
    said = capsys.readouterr().out
    assert "serial 12" in said and "expires 2099-12-31T23:59:59Z" in said
    assert "[sync] endpoint = \"https://s3.b.example\"  (signed)" in said
    assert "[mqtt] keepalive_s = 60  (operational)" in said
    body = json.loads(json.loads(out.read_text())["body"])
    assert body["config"]["encryption"]["insurer_public_key"] == pem.read_text()
    pub = f"{key}.pub"
    assert provision(["config", "verify", str(out), "--public-key", pub, "--device", DEVICE]) == 0
    assert provision(["config", "verify", str(out), "--public-key", pub, "--device",
                      "dr-unit-z"]) == 1
    assert "REFUSED" in capsys.readouterr().out
    changes.write_text('[spool]\npath = "/"\n')
    assert provision(["config", "sign", "--key", str(key), "--serial", "13", "--in",
                      str(changes), "--out", str(tmp_path / "b2.json"), "--device", DEVICE]) == 2
    assert "[spool] path: local setting" in capsys.readouterr().err
    assert not (tmp_path / "b2.json").exists()
