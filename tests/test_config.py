"""Configuration: defaults load; every bad key or value is refused with its line and reason."""
from __future__ import annotations

import pytest

from firmware.cli.main import main
from firmware.config.loading import load_config
from firmware.errors import ConfigError


def test_defaults_load():
    config = load_config()
    assert config.spool.checkpoint_every == 100 and config.drivers.backend == "real"


def test_a_file_overrides_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[drivers]\nbackend = "sim"\n[recorder]\nsegment_seconds = 2\n')
    config = load_config(path)
    assert config.drivers.backend == "sim" and config.recorder.segment_seconds == 2.0
    assert config.spool.path == "/var/lib/dualrec/spool"


def test_unknown_key_names_line_and_path(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[spool]\npath = "/x"\n\n[recorder]\nsegment_secs = 1\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}:5: [recorder] segment_secs: unknown key" in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[drivers]\nbackend = "fake"\n[spool]\ncheckpoint_every = "ten"\n'
                    '[cameras]\nx = 1\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert f"{path}:2: [drivers] backend: must be one of real, sim" in text
    assert f"{path}:4: [spool] checkpoint_every: must be int, got str 'ten'" in text
    assert f"{path}:5: [cameras]: unknown section" in text


def test_out_of_range_and_bad_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[recorder]\nsegment_seconds = 60\n")
    with pytest.raises(ConfigError, match="between 0.2 and 10"):
        load_config(path)
    path.write_text("[recorder\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.toml")


def test_validate_config_command(tmp_path, capsys):
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text('[drivers]\nbackend = "sim"\n')
    bad.write_text('[drivers]\nbakend = "sim"\n')
    assert main(["run", "--config", str(good), "--validate-config"]) == 0
    assert main(["run", "--config", str(bad), "--validate-config"]) == 2
    assert "bakend: unknown key" in capsys.readouterr().err
