"""`dualrec config tiers|show|apply-bundle`: a signed bundle applied at the unit itself."""
from __future__ import annotations

import json
from pathlib import Path

from remote_config_unit import DEVICE, make_bundle

from firmware.cli.main import main
from firmware.config.model import TIERS
from firmware.evidence.keys import DeviceKey


def write_unit(root: Path, backoffice: DeviceKey) -> Path:
    toml = root / "dualrec.toml"
    toml.write_text(f"""
[device]
id = "{DEVICE}"
key_file = "{root}/keys/device.key"
[spool]
path = "{root}/spool"
[drivers]
backend = "sim"
[people]
backoffice_public_key = "{backoffice.public.b64}"
[control]
socket = ""
""")
    return toml


def test_tiers_lists_every_setting(capsys):
    assert main(["config", "tiers", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["tier"] for r in rows} == set(TIERS)
    assert {"key": "encryption.insurer_public_key", "tier": "signed", "default": '""'} in rows
    assert main(["config", "tiers"]) == 0
    assert "operational: an operator's set-config" in capsys.readouterr().out


def test_a_bundle_applied_locally(tmp_path, backoffice, intruder, capsys):
    toml = write_unit(tmp_path, backoffice)
    (tmp_path / "spool").mkdir()          # the unit has run: its spool exists
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(make_bundle(backoffice, {"sync": {"bucket": "evidence-b"},
                                                "mqtt": {"keepalive_s": 45}}, 2))
    assert main(["config", "apply-bundle", str(bundle), "--config", str(toml)]) == 0
    assert "bundle serial 2 accepted (2 settings: mqtt.keepalive_s, sync.bucket)" \
        in capsys.readouterr().out
    assert main(["config", "apply-bundle", str(bundle), "--config", str(toml)]) == 1
    assert "REFUSED" in capsys.readouterr().out
    bundle.write_bytes(make_bundle(intruder, {"sync": {"bucket": "x"}}, 3))
    assert main(["config", "apply-bundle", str(bundle), "--config", str(toml)]) == 1
    assert "signed by another key" in capsys.readouterr().out
    assert main(["config", "apply-bundle", str(tmp_path / "nope.json"), "--config",
                 str(toml)]) == 2
    capsys.readouterr()
    assert main(["config", "show", "--config", str(toml), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    settings = {s["key"]: s for s in shown["settings"]}
    assert settings["sync.bucket"] == {"key": "sync.bucket", "value": '"evidence-b"',
                                       "tier": "signed", "from": "bundle serial 2"}
    assert settings["sync.endpoint"]["from"] == "file" and shown["bundle_serial"] == 2
    (tmp_path / "spool" / "state" / "desired-config.json").write_text(json.dumps(
        {"version": 1, "desired": {"sync": {"enabled": True}}}))
    assert main(["config", "show", "--config", str(toml)]) == 1
    out = capsys.readouterr().out
    assert "sync.bucket = \"evidence-b\"  [signed; from bundle serial 2]" in out
    assert "REFUSED" in out and "[sync] enabled: signed setting" in out
