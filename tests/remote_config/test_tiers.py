"""Every configuration key has a remote tier chosen on purpose; dangerous paths are refused."""
from __future__ import annotations

import re
import socket
from dataclasses import fields
from pathlib import Path

import pytest

from firmware.config.loading import load_config
from firmware.config.model import (LOCAL, OPERATIONAL, SIGNED, TIERS, Config, section_names,
                                   tier_of, tier_problems)
from firmware.errors import ConfigError

# The whole list of what an operator's set-config may change. A new key is `local` until it is
# declared otherwise; making one operational means adding it here, on purpose, in review.
OPERATIONAL_KEYS = {
    "logging.level", "session.selftest_every_s",
    "mqtt.keepalive_s", "mqtt.telemetry_interval_s", "mqtt.reconnect_min_s",
    "mqtt.reconnect_max_s",
    "sync.rate_limit_kib_s", "sync.media_window", "sync.timezone", "sync.interval_s",
    "sync.max_backoff_s", "sync.workers", "sync.part_size_mb", "sync.multipart_threshold_mb",
    "sync.connect_timeout_s", "sync.read_timeout_s", "sync.max_attempts",
    "display.max_screens",
}
# Never changed remotely, not even by a signed bundle.
LOCAL_KEYS = {
    "device.id", "device.key_file", "device.certificate", "device.fleet_ca",
    "spool.path", "drivers.backend", "control.socket",
    "mqtt.url", "mqtt.ca_file", "mqtt.client_cert", "mqtt.client_key", "mqtt.branch",
    "branch.org", "branch.channel", "branch.outlet",
    "people.backoffice_public_key", "sync.ca_bundle", "speech.cache_dir", "speech.model_dir",
    "ticket.sales_public_keys", "ticket.used_dir", "display.listen",
    "display.allow_non_loopback", "display.documents",
    "sigpad.device", "sigpad.replay_file",
    "panel.record_pin", "panel.next_pin", "panel.replay_pin", "panel.rec_led_pin",
    "panel.status_led_pin", "panel.buzzer_pin",
}
# Attacks of the audit: each must need at least a signed bundle.
MUST_BE_SIGNED = {
    "encryption.insurer_public_key", "sync.enabled", "sync.endpoint", "sync.bucket",
    "sync.prefix", "sync.region", "sync.keep_local_days", "sync.retention_years",
    "sync.retention_mode", "sync.prune_early_when_low_disk", "session.mode",
    "session.scripts_dir", "session.template", "session.require_clock_sync",
    "people.roster_file", "spool.min_free_mb", "spool.checkpoint_every",
    "recorder.segment_seconds", "camera.width", "camera.fps", "camera.bitrate", "audio.rate",
    "ticket.allow_unbound", "understanding.enabled", "understanding.forbidden_phrases",
    "speech.voice", "speech.recorded_dir", "display.enabled",
}


def every_key() -> list[tuple[str, str, dict]]:
    return [(section, f.name, dict(f.metadata)) for section in section_names()
            for f in fields(type(getattr(Config(), section)))]


def test_every_key_has_a_deliberate_tier():
    undeclared = [f"{s}.{k}" for s, k, meta in every_key() if meta.get("tier") not in TIERS]
    assert undeclared == [], f"declare a tier (operational/signed/local) for {undeclared}"
    tiers = {f"{s}.{k}": meta["tier"] for s, k, meta in every_key()}
    assert {k for k, t in tiers.items() if t == OPERATIONAL} == OPERATIONAL_KEYS
    assert {k for k, t in tiers.items() if t == LOCAL} == LOCAL_KEYS
    assert MUST_BE_SIGNED <= {k for k, t in tiers.items() if t == SIGNED}


def test_undeclared_and_unknown_keys_are_local():
    assert tier_of("nonsense", "x") == LOCAL
    assert tier_of("sync", "no_such_key") == LOCAL
    assert tier_of("sync", "endpoint") == SIGNED and tier_of("sync", "workers") == OPERATIONAL
    assert tier_problems({"nonsense": {"x": 1}, "sync": {"nope": 1}}, (OPERATIONAL,)) == []


def test_tier_problems_say_why():
    problems = tier_problems({"encryption": {"insurer_public_key": ""}, "spool": {"path": "/x"},
                              "mqtt": {"keepalive_s": 10}}, (OPERATIONAL,))
    assert [(s, k) for s, k, _ in problems] == [("encryption", "insurer_public_key"),
                                                ("spool", "path")]
    assert "signed by the back office" in problems[0][2]
    assert "never changed remotely" in problems[1][2]
    bundle = tier_problems({"spool": {"path": "/x", "min_free_mb": 1}}, (OPERATIONAL, SIGNED))
    assert bundle == [("spool", "path", "local setting: never changed remotely, not even by a "
                       "signed bundle")]


@pytest.mark.parametrize("path, ok", [
    ("/", False), ("/etc", False), ("/usr", False), ("/var", False), ("/var/", False),
    ("/run", False), ("/root", False), ("/lib64", False), ("/proc/self", False),
    ("/dev/shm/x", False), ("/etc/dualrec/spool", False), ("//etc", False),
    ("/usr/../etc", False), ("spool", False), ("./spool", False), ("", False),
    ("/var/lib/dualrec/spool", True), ("/srv/dualrec", True), ("/run/dualrec/spool", True),
])
def test_the_spool_must_be_a_directory_of_its_own(tmp_path, path, ok):
    toml = tmp_path / "c.toml"
    toml.write_text(f'[drivers]\nbackend = "sim"\n\n[spool]\npath = "{path}"\n')
    if ok:
        assert load_config(toml).spool.path == path
        return
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    assert f"{toml}:5: [spool] path: " in str(info.value)


def test_a_control_socket_over_another_file_is_refused(tmp_path):
    toml = tmp_path / "c.toml"
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    toml.write_text(f'[control]\nsocket = "{victim}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    assert f"{toml}:2: [control] socket: {victim} exists and is a regular file, not a socket" \
        in str(info.value)
    assert victim.read_text() == "keep me"
    toml.write_text(f'[control]\nsocket = "{tmp_path}"\n')
    with pytest.raises(ConfigError, match="is a directory, not a socket"):
        load_config(toml)
    (tmp_path / "link").symlink_to(victim)
    toml.write_text(f'[control]\nsocket = "{tmp_path / "link"}"\n')
    with pytest.raises(ConfigError, match="is a symlink, not a socket"):
        load_config(toml)
    toml.write_text('[control]\nsocket = "relative.sock"\n')
    with pytest.raises(ConfigError, match="socket: must be an absolute path"):
        load_config(toml)
    # a socket left by the last run, or nothing at all, is fine
    stale = tmp_path / "ctl.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))
    toml.write_text(f'[control]\nsocket = "{stale}"\n')
    assert load_config(toml).control.socket == str(stale)
    toml.write_text(f'[control]\nsocket = "{tmp_path / "new.sock"}"\n')
    assert load_config(toml).control.socket.endswith("new.sock")


def test_keys_inside_the_spool_are_refused(tmp_path):
    toml = tmp_path / "c.toml"
    spool = tmp_path / "spool"
    toml.write_text(f'[spool]\npath = "{spool}"\n[device]\nkey_file = "{spool}/keys/device.key"\n'
                    f'[mqtt]\nclient_key = "{spool}/../spool/tls.key"\n'
                    f'[people]\nbackoffice_public_key = "{spool}/state/backoffice.pub"\n')
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    text = str(info.value)
    assert f"{toml}:4: [device] key_file: {spool}/keys/device.key is inside the spool" in text
    assert f"{toml}:6: [mqtt] client_key:" in text
    assert f"{toml}:8: [people] backoffice_public_key:" in text
    toml.write_text(f'[spool]\npath = "{spool}"\n[device]\nkey_file = "{tmp_path}/spool-keys/k"\n'
                    '[people]\nbackoffice_public_key = "' + "A" * 43 + '="\n')
    assert load_config(toml).device.key_file.endswith("spool-keys/k")


def test_validate_config_reports_dangerous_values(tmp_path, capsys):
    from firmware.cli.main import main
    toml = tmp_path / "c.toml"
    toml.write_text('[spool]\npath = "/"\n')
    assert main(["run", "--config", str(toml), "--validate-config"]) == 2
    assert f"{toml}:2: [spool] path: '/' is a system directory" in capsys.readouterr().err


def test_the_operations_guide_lists_every_key_with_its_tier():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    documented = {}
    for line in doc.splitlines():
        match = re.fullmatch(r"\| `\[(\w+)\]` \| (.*) \| (.*) \| (.*) \|", line)
        if not match:
            continue
        for tier, cell in zip((OPERATIONAL, SIGNED, LOCAL), match.groups()[1:]):
            for key in re.findall(r"`(\w+)`", cell):
                documented[f"{match.group(1)}.{key}"] = tier
    model = {f"{s}.{k}": meta["tier"] for s, k, meta in every_key()}
    assert documented == model
