"""The unit's remote layers: what set-config and bundles may change, what is stored in
SPOOL/state/, and what is refused when it is loaded again (real keys, real files)."""
from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from remote_config_unit import BRANCH, insurer_public_key, make_bundle, unit_config

from firmware.config.bundle import BundleRefusedError, BundleSignatureError
from firmware.config.model import OPERATIONAL, Config, tier_of
from firmware.unit.config_record import config_values
from firmware.unit.remote_config import RemoteConfig, RemoteConfigError, with_desired_config

NOW = dt.datetime.now(dt.timezone.utc)

ATTACKS = [
    ({"encryption": {"insurer_public_key": ""}}, "[encryption] insurer_public_key: signed"),
    ({"sync": {"endpoint": "https://evil.example", "bucket": "theirs", "keep_local_days": 0}},
     "[sync] bucket: signed"),
    ({"control": {"socket": "/etc/passwd"}}, "[control] socket: local setting: never"),
    ({"drivers": {"backend": "sim"}}, "[drivers] backend: local"),
    ({"session": {"mode": "audio_photo"}}, "[session] mode: signed"),
    ({"session": {"scripts_dir": "/tmp/theirs"}}, "[session] scripts_dir: signed"),
    ({"people": {"roster_file": "/tmp/roster.json"}}, "[people] roster_file: signed"),
    ({"people": {"backoffice_public_key": "A" * 43 + "="}}, "backoffice_public_key: local"),
    ({"spool": {"min_free_mb": 0}}, "[spool] min_free_mb: signed"),
    ({"spool": {"checkpoint_every": 100000}}, "[spool] checkpoint_every: signed"),
    ({"spool": {"path": "/"}}, "[spool] path: local"),
    ({"device": {"id": "dr-evil"}}, "[device] id: local"),
]


def state(config: Config) -> Path:
    return Path(config.spool.path) / "state"


def non_operational(config: Config) -> dict[str, str]:
    return {k: v for k, v in config_values(config).items()
            if tier_of(*k.split(".", 1)) != OPERATIONAL}


@pytest.mark.parametrize("desired, why", ATTACKS, ids=[w.split(":")[0] for _, w in ATTACKS])
def test_set_config_refuses_every_setting_that_is_not_operational(unit, desired, why):
    with pytest.raises(RemoteConfigError) as info:
        RemoteConfig.for_unit(unit).accept_operational(desired, 3)
    assert why in str(info.value)
    assert not (state(unit) / "desired-config.json").exists()
    assert config_values(with_desired_config(unit)) == config_values(unit)


def test_set_config_keeps_operational_settings_for_the_next_start(unit):
    remote = RemoteConfig.for_unit(unit)
    remote.accept_operational({"mqtt": {"telemetry_interval_s": 15}, "logging":
                               {"level": "debug"}}, 4)
    effective = with_desired_config(unit)
    assert effective.mqtt.telemetry_interval_s == 15.0 and effective.logging.level == "debug"
    assert effective.origin.operational_version == 4 and effective.origin.base == unit
    assert non_operational(effective) == non_operational(unit)
    with pytest.raises(RemoteConfigError, match="older than the accepted version 4"):
        remote.accept_operational({"mqtt": {"keepalive_s": 10}}, 3)
    status = RemoteConfig.for_unit(unit).status(unit)
    assert status["pending"] and status["accepted"]["set_config_version"] == 4
    assert status["effective"]["set_config_version"] == 0
    assert RemoteConfig.for_unit(effective).status(effective)["pending"] is False


def test_a_tampered_set_config_file_is_refused_loudly_and_ignored(unit, caplog):
    path = state(unit) / "desired-config.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 9, "desired": {
        "mqtt": {"keepalive_s": 10}, "encryption": {"insurer_public_key": ""},
        "sync": {"enabled": True, "endpoint": "https://evil.example"}}}))
    with caplog.at_level(logging.ERROR):
        effective = with_desired_config(unit)
    assert config_values(effective) == config_values(unit)          # ignored whole
    assert effective.origin.operational_version == 0
    assert "[encryption] insurer_public_key: signed" in effective.origin.refused[0]
    assert any("remote configuration refused" in r.message and "sync] enabled" in r.message
               for r in caplog.records if r.levelno == logging.ERROR)
    status = RemoteConfig.for_unit(unit).status(effective)
    assert "ignored whole" in status["refused"][0]
    for junk in (b"\x00\xff", b"[]", b'{"version": true, "desired": {}}', b"{" * 5000):
        path.write_bytes(junk)
        assert config_values(with_desired_config(unit)) == config_values(unit)
    path.unlink()
    path.symlink_to("/etc/passwd")          # never followed
    assert with_desired_config(unit).origin.refused


def test_a_bundle_changes_sync_and_rotates_the_insurer_key(unit, backoffice, tmp_path):
    new_key = insurer_public_key(tmp_path, "insurer-b").read_text()
    raw = make_bundle(backoffice, {
        "sync": {"endpoint": "https://s3.b.example", "bucket": "evidence-b",
                 "keep_local_days": 7},
        "encryption": {"insurer_public_key": new_key}}, 5)
    bundle = RemoteConfig.for_unit(unit).accept_bundle(raw, now=NOW, running=unit)
    assert bundle.serial == 5
    stored = json.loads((state(unit) / "config-bundle.json").read_text())
    assert stored["highest_serial"] == 5 and stored["bundle"].encode() == raw
    effective = with_desired_config(unit)
    assert (effective.sync.endpoint, effective.sync.bucket, effective.sync.keep_local_days) == (
        "https://s3.b.example", "evidence-b", 7.0)
    key_file = Path(effective.encryption.insurer_public_key)
    assert key_file.parent == state(unit) / "config" and key_file.read_text() == new_key
    assert effective.origin.bundle_serial == 5
    key_file.unlink()                       # written again from the verified bundle
    assert Path(with_desired_config(unit).encryption.insurer_public_key).read_text() == new_key


def test_bundle_refusals(unit, backoffice, intruder, tmp_path):
    remote = RemoteConfig.for_unit(unit)
    good = {"sync": {"bucket": "evidence-b"}}
    remote.accept_bundle(make_bundle(backoffice, good, 5), now=NOW, running=unit)
    refusals = [
        (make_bundle(backoffice, good, 5), BundleRefusedError, "not above the highest accepted"),
        (make_bundle(backoffice, good, 4), BundleRefusedError, "replayed or older"),
        (make_bundle(intruder, good, 6), BundleSignatureError, "signed by another key"),
        (make_bundle(backoffice, good, 6, devices=("dr-unit-b",)), BundleRefusedError,
         "not this unit"),
        (make_bundle(backoffice, good, 6, devices=(), branches=("0999",)), BundleRefusedError,
         "not this unit"),
        (make_bundle(backoffice, good, 6, issued=NOW - dt.timedelta(days=2),
                     expires=NOW - dt.timedelta(days=1)), BundleRefusedError, "expired"),
        (make_bundle(backoffice, {"encryption": {"insurer_public_key": ""}}, 6),
         BundleRefusedError, "never switched off remotely"),
        (make_bundle(backoffice, {"encryption": {"insurer_public_key": "/no/such.pem"}}, 6),
         BundleRefusedError, "could not run"),
        (make_bundle(backoffice, {"session": {"template": "no-such-script"}}, 6),
         BundleRefusedError, "is not among the scripts"),
    ]
    forged = json.loads(make_bundle(backoffice, good, 6))
    forged["body"] = forged["body"].replace("evidence-b", "evidence-x")
    refusals.append((json.dumps(forged).encode(), BundleSignatureError, "changed after"))
    for raw, error, why in refusals:
        with pytest.raises(error) as info:
            remote.accept_bundle(raw, now=NOW, running=unit)
        assert why in str(info.value)
    assert RemoteConfig.for_unit(unit).layers().bundle.serial == 5
    assert with_desired_config(unit).sync.bucket == "evidence-b"
    # by branch: accepted
    remote.accept_bundle(make_bundle(backoffice, good, 6, devices=(), branches=(BRANCH,)),
                         now=NOW, running=unit)


def test_encryption_stays_on_when_a_later_bundle_omits_the_key(tmp_path, backoffice):
    plain = unit_config(tmp_path / "unit", backoffice, encrypted=False)
    remote = RemoteConfig.for_unit(plain)
    pem = insurer_public_key(tmp_path, "insurer-b").read_text()
    remote.accept_bundle(make_bundle(backoffice, {"encryption": {"insurer_public_key": pem}}, 1),
                         now=NOW, running=plain)
    running = with_desired_config(plain)
    assert running.encryption.insurer_public_key
    with pytest.raises(BundleRefusedError, match="would switch encryption off"):
        remote.accept_bundle(make_bundle(backoffice, {"sync": {"bucket": "b"}}, 2), now=NOW,
                             running=running)
    # even before the restart that would put the first bundle into effect
    with pytest.raises(BundleRefusedError, match="would switch encryption off"):
        remote.accept_bundle(make_bundle(backoffice, {"sync": {"bucket": "b"}}, 2), now=NOW,
                             running=plain)


def test_a_tampered_bundle_file_is_refused_and_ignored(unit, backoffice, intruder, caplog):
    RemoteConfig.for_unit(unit).accept_bundle(
        make_bundle(backoffice, {"sync": {"bucket": "evidence-b"}}, 5), now=NOW, running=unit)
    path = state(unit) / "config-bundle.json"
    stored = json.loads(path.read_text())
    for text in (stored["bundle"].replace("evidence-b", "evidence-x"),
                 make_bundle(intruder, {"sync": {"bucket": "evidence-x"}}, 9).decode(),
                 make_bundle(backoffice, {"sync": {"bucket": "evidence-x"}}, 9,
                             devices=("dr-unit-b",)).decode()):
        path.write_text(json.dumps({**stored, "bundle": text}))
        with caplog.at_level(logging.ERROR):
            effective = with_desired_config(unit)
        assert effective.sync.bucket == unit.sync.bucket and effective.origin.bundle_serial == 0
        assert effective.origin.refused and "ignored" in effective.origin.refused[0]
    # a refused file still keeps older bundles out
    with pytest.raises(BundleRefusedError, match="highest accepted serial 5"):
        RemoteConfig.for_unit(unit).accept_bundle(make_bundle(
            backoffice, {"sync": {"bucket": "evidence-c"}}, 4), now=NOW, running=unit)


def test_no_back_office_key_no_bundles(tmp_path, backoffice):
    config = unit_config(tmp_path / "unit", backoffice, people={"backoffice_public_key": ""})
    with pytest.raises(BundleRefusedError, match="no back-office key is configured"):
        RemoteConfig.for_unit(config).accept_bundle(make_bundle(backoffice, {}, 1), now=NOW)


def test_a_bundle_is_refused_when_its_settings_disagree_with_the_units_own(tmp_path, backoffice):
    # a bundle is checked as the unit's own file would be: [meet] on over 44.1 kHz audio is a
    # configuration the unit could not run (the counter's sound goes to remote parties as Opus)
    from firmware.config.loading import replace
    unit = replace(unit_config(tmp_path / "unit", backoffice), audio={"rate": 44_100})
    remote = RemoteConfig.for_unit(unit)
    with pytest.raises(BundleRefusedError, match=r"\[meet\] enabled: \[audio\] rate 44100"):
        remote.accept_bundle(make_bundle(backoffice, {"meet": {"enabled": True}}, 1), now=NOW,
                             running=unit)
    assert remote.layers().bundle is None                         # nothing kept
    remote.accept_bundle(make_bundle(backoffice, {"meet": {"enabled": True},
                                                  "audio": {"rate": 48_000}}, 1),
                         now=NOW, running=unit)
