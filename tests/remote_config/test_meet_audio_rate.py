"""A meeting sends the counter's microphone to remote parties as Opus (8, 16, 24 or 48 kHz):
``[meet] enabled`` with an ``[audio] rate`` Opus does not take (32000, 44100) is refused when
the configuration is read, with the file, line and what to do, and not at the first session
with a remote party."""
from __future__ import annotations

import pytest

from firmware.cli.main import main
from firmware.config.loading import load_config, parse_config
from firmware.errors import ConfigError


@pytest.mark.parametrize("rate", [32_000, 44_100])
def test_a_meeting_with_a_rate_opus_cannot_send_is_refused(tmp_path, rate):
    path = tmp_path / "unit.toml"
    path.write_text(f'[audio]\nrate = {rate}\n\n[meet]\nenabled = true\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert f"{path}:5: [meet] enabled: [audio] rate {rate} cannot be sent to remote" in text
    assert "set [audio] rate = 48000 (or 16000)" in text


@pytest.mark.parametrize("rate", [16_000, 48_000])
def test_a_meeting_with_a_rate_opus_takes_loads(tmp_path, rate):
    path = tmp_path / "unit.toml"
    path.write_text(f'[audio]\nrate = {rate}\n[meet]\nenabled = true\n')
    config = load_config(path)
    assert config.meet.enabled and config.audio.rate == rate


def test_any_rate_without_a_meeting_loads(tmp_path):
    path = tmp_path / "unit.toml"
    path.write_text('[audio]\nrate = 44100\n')
    assert load_config(path).audio.rate == 44_100


def test_the_default_rate_with_a_meeting_loads(tmp_path):
    path = tmp_path / "unit.toml"
    path.write_text('[meet]\nenabled = true\n')
    assert load_config(path).audio.rate == 48_000


def test_a_bundle_that_sets_both_is_refused():
    """What a signed bundle's configuration goes through (firmware.config.bundle)."""
    with pytest.raises(ConfigError, match=r"\[meet\] enabled: \[audio\] rate 32000"):
        parse_config({"audio": {"rate": 32_000}, "meet": {"enabled": True}}, source="bundle")


def test_validate_config_names_the_problem(tmp_path, capsys):
    path = tmp_path / "unit.toml"
    path.write_text('[drivers]\nbackend = "sim"\n[audio]\nrate = 44100\n[meet]\nenabled = true\n')
    assert main(["run", "--config", str(path), "--validate-config"]) == 2
    assert "[meet] enabled: [audio] rate 44100 cannot be sent" in capsys.readouterr().err
