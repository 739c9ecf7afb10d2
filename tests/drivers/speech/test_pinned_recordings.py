"""An insurer's recorded audio for fixed wording, pinned by hash in the script template (issue 13):
``recording = "<sha256 of the WAV>"`` on a node is checked like every template key; the unit's
prompter plays that recording for the node's prompt (its SHA-256 is the prompt EVENT's
``audio_sha256``) and never synthesises a pinned prompt: a recording whose bytes differ from the
pin, or none at all, is an error at start and at play.

The voice is the real KokoroSpeech over a closed Synthesizer: any synthesis would fail loudly,
so a test that passes proved the recording was played, not the voice."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from drivers.audio import open_speaker
from drivers.clock import SimClock
from drivers.errors import DriverError
from drivers.speech import KokoroSpeech, RecordedPrompts, Synthesizer, text_hash
from drivers.speech.prompt_files import sha256_file
from firmware.config.model import Config
from firmware.config.loading import replace
from firmware.errors import ConfigError
from firmware.unit.hardware import recorded_prompts
from firmware.unit.session.prompter import Prompter
from firmware.unit.session.script import (TemplateError, load_template, parse_template,
                                          template_recordings)
from kokoro_models import installed_kokoro

CONSENT = "您好，本次销售过程将全程录音录像，请问您是否同意？"
TEMPLATE = """
[template]
id = "pinned"
version = "1"
title = "录音示例"
channel = "bank"
products = ["life"]
elder = false
words_per_minute = 300

[[node]]
id = "consent"
title = "告知"
kind = "consent"
prompt = "{consent}"
min_seconds = 1
requires = ["answer"]
answer_seconds = 2
recording = "{pin}"

[[node]]
id = "facts"
title = "产品要素"
kind = "statement"
prompt = "{facts}"
min_seconds = 1
requires = []
answer_seconds = 0
"""
FACTS = "本产品保险费为{{premium}}。"


def write_tone(path: Path, hz: float = 440.0, seconds: float = 0.4, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes())
    return path


def template_text(pin: str, facts: str = "本产品的犹豫期为十五天。") -> str:
    return TEMPLATE.format(consent=CONSENT, pin=pin, facts=facts)


@pytest.fixture(scope="module")
def closed() -> Synthesizer:
    """A synthesizer that refuses every request: what a recorded prompt must not need."""
    synth = Synthesizer(installed_kokoro())
    synth.close()
    return synth


@pytest.fixture
def unit(tmp_path):
    """A unit's configuration whose scripts directory holds the pinned template, and its
    recordings directory with the approved recording of the consent prompt."""
    scripts, recorded = tmp_path / "scripts", tmp_path / "recorded"
    scripts.mkdir()
    recorded.mkdir()
    recording = write_tone(recorded / f"{text_hash(CONSENT)}.wav")
    (scripts / "pinned.toml").write_text(template_text(sha256_file(recording)),
                                         encoding="utf-8")
    config = replace(Config(), session={"scripts_dir": str(scripts)},
                     speech={"recorded_dir": str(recorded), "cache_dir": str(tmp_path / "c")})
    return config, recording


# -- the template key ---------------------------------------------------------------------------
def test_a_node_pins_its_recording_by_hash():
    pin = "ab" * 32
    template = parse_template(template_text(pin))
    assert template.nodes[0].recording == pin and template.nodes[1].recording is None
    assert template_recordings([template]) == {CONSENT: pin}


@pytest.mark.parametrize("value, message", [
    ('"AB' + "ab" * 31 + '"', "must be the SHA-256 of the recorded WAV file as 64 lowercase hex"),
    ('"abc"', "node[0] (consent).recording: must be the SHA-256"),
    ("12", "got '12'"),
])
def test_a_bad_pin_is_refused_with_the_key_path_and_reason(value, message):
    text = template_text("x").replace('recording = "x"', f"recording = {value}")
    with pytest.raises(TemplateError, match=r"<template>: invalid script template") as raised:
        parse_template(text)
    assert message in str(raised.value)


def test_a_prompt_with_ticket_fields_cannot_have_a_recording():
    text = template_text("ab" * 32, FACTS).replace(
        'answer_seconds = 0\n', f'answer_seconds = 0\nrecording = "{"cd" * 32}"\n')
    with pytest.raises(TemplateError, match=r"node\[1\] \(facts\)\.recording: a recording is "
                                            r"of fixed wording"):
        parse_template(text)


def test_one_wording_has_one_approved_recording(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text(template_text("ab" * 32), encoding="utf-8")
    b.write_text(template_text("cd" * 32).replace('id = "pinned"', 'id = "other"'),
                 encoding="utf-8")
    with pytest.raises(TemplateError, match=r"b\.toml: node 'consent'\.recording: cdcdcd.*"
                                            r"a\.toml: node 'consent' pins the same prompt"):
        template_recordings([load_template(a), load_template(b)])


# -- the unit plays it --------------------------------------------------------------------------
def test_a_pinned_recording_is_played_for_its_node_and_its_hash_is_on_the_prompt(unit,
                                                                                  closed):
    config, recording = unit
    recorded = recorded_prompts(config)
    assert recorded.pins == {CONSENT: sha256_file(recording)}
    clock = SimClock(realtime=False)
    speaker = open_speaker("sim", clock=clock)
    voices = []

    def speech(wpm: int) -> KokoroSpeech:
        voices.append(KokoroSpeech(config.speech.cache_dir, closed, wpm, recorded=recorded))
        return voices[-1]

    prompter = Prompter(speech, speaker)
    template = load_template(Path(config.session.scripts_dir) / "pinned.toml")
    prompter.prepare([n.prompt for n in template.nodes[:1]], template.words_per_minute)
    assert prompter.wait_prepared(60) and prompter.prepare_error is None
    play = prompter.play("consent", template.nodes[0].prompt)
    assert play.wav == recording
    assert play.playback.wait(30)
    event = prompter.record(play)
    assert event["audio_sha256"] == template.nodes[0].recording == sha256_file(recording)
    assert speaker.played[-1].path == recording
    assert voices[0].renders == 0 and voices[0].recorded_hits == 2   # ahead, then at play
    # the facts node has no recording: it is synthesised (the closed voice says so)
    with pytest.raises(DriverError, match="closed"):
        prompter.play("facts", template.nodes[1].prompt)
    speaker.close()


def test_a_wrong_pin_refuses_the_start_naming_the_node_file_and_hashes(unit):
    config, recording = unit
    approved = sha256_file(recording)
    write_tone(recording, hz=660.0)                  # another take, not the approved one
    with pytest.raises(ConfigError) as raised:
        recorded_prompts(config)
    message = str(raised.value)
    assert "pinned.toml: node 'consent'.recording" in message
    assert f"{recording} has SHA-256 {sha256_file(recording)}" in message
    assert f"its pin is {approved}" in message and "approved recording" in message


def test_a_missing_pinned_recording_or_directory_refuses_the_start(unit):
    config, recording = unit
    recording.unlink()
    with pytest.raises(ConfigError, match=r"node 'consent'\.recording: .*is pinned .*but there "
                                          rf"is none: install .*{text_hash(CONSENT)}\.wav"):
        recorded_prompts(config)
    with pytest.raises(ConfigError, match=r"\[speech\] recorded_dir is not set, but 1 template "
                                          r"node\(s\) pin a recording"):
        recorded_prompts(replace(config, speech={"recorded_dir": ""}))


def test_a_recording_changed_after_the_start_is_an_error_at_play_never_synthesis(unit, closed):
    config, recording = unit
    recorded = recorded_prompts(config)
    prompter = Prompter(lambda wpm: KokoroSpeech(config.speech.cache_dir, closed, wpm,
                                                 recorded=recorded),
                        open_speaker("sim", clock=SimClock(realtime=False)))
    write_tone(recording, hz=880.0)
    with pytest.raises(DriverError, match="its pin is .*approved recording") as raised:
        prompter.play("consent", CONSENT)
    assert "closed" not in str(raised.value)
    recording.unlink()
    with pytest.raises(DriverError, match="is pinned"):
        prompter.play("consent", CONSENT)


def test_without_pins_or_a_directory_nothing_changes(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "plain.toml").write_text(template_text("ab" * 32).replace(
        'recording = "' + "ab" * 32 + '"\n', ""), encoding="utf-8")
    config = replace(Config(), session={"scripts_dir": str(scripts)})
    assert recorded_prompts(config) is None
    config = replace(config, speech={"recorded_dir": str(tmp_path)})
    assert isinstance(recorded_prompts(config), RecordedPrompts)
    assert recorded_prompts(config).pins == {}
