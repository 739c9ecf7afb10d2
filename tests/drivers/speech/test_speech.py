"""Speech: the real espeak-ng renders Mandarin prompts to cached WAVs."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import wave

import numpy as np
import pytest

from drivers.clock import SimClock
from drivers.errors import BadDriverArgument, DeviceMissingError
from drivers.speech import Speech, text_hash

PROMPT = "请确认您已阅读投保提示书"

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (./dev setup installs it)")


def read(path):
    with wave.open(str(path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return samples, wav.getframerate(), wav.getnchannels(), wav.getsampwidth()


@needs_espeak
def test_renders_mandarin_to_a_wav_with_duration_and_energy(tmp_path):
    speech = Speech(tmp_path / "cache", voice="cmn", words_per_minute=160,
                    clock=SimClock(realtime=True))
    path = speech.render(PROMPT)
    assert path.parent == tmp_path / "cache" and path.name == speech.cache_key(PROMPT) + ".wav"
    samples, rate, channels, width = read(path)
    assert (channels, width) == (1, 2) and rate > 8000
    seconds = samples.size / rate
    assert 1.5 < seconds < 10, seconds            # twelve syllables
    rms = np.sqrt((samples.astype(float) ** 2).mean())
    assert rms > 500                              # not silence
    assert speech.renders == 1 and speech.render_ns > 0
    assert list((tmp_path / "cache").iterdir()) == [path]   # no temporary file left behind


@needs_espeak
def test_second_render_is_a_cache_hit_without_a_subprocess(tmp_path, monkeypatch):
    speech = Speech(tmp_path, words_per_minute=170)
    first = speech.render(PROMPT)
    before = first.read_bytes()

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"espeak-ng ran again: {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert speech.render(PROMPT) == first
    assert speech.renders == 1 and speech.cache_hits == 1
    assert first.read_bytes() == before
    # a new Speech on the same cache finds it too (version is asked once per instance)
    monkeypatch.undo()
    again = Speech(tmp_path, words_per_minute=170)
    assert again.render(PROMPT) == first and again.renders == 0


@needs_espeak
def test_speed_voice_and_text_each_make_a_different_file(tmp_path):
    slow, fast = Speech(tmp_path, words_per_minute=120), Speech(tmp_path, words_per_minute=240)
    slow_path, fast_path = slow.render(PROMPT), fast.render(PROMPT)
    assert slow_path != fast_path
    assert read(slow_path)[0].size > read(fast_path)[0].size * 1.4
    assert slow.render("请签名") != slow_path
    assert Speech(tmp_path, voice="cmn-latn-pinyin").path_for(PROMPT) != slow_path
    assert len(list(tmp_path.glob("*.wav"))) == 3


def test_text_hash_is_the_sha256_of_the_text():
    assert text_hash(PROMPT) == hashlib.sha256(PROMPT.encode("utf-8")).hexdigest()
    assert Speech("/nonexistent").text_hash(PROMPT) == text_hash(PROMPT)


def test_missing_espeak_is_named(tmp_path):
    speech = Speech(tmp_path, executable="/nonexistent/espeak-ng")
    with pytest.raises(DeviceMissingError, match="espeak-ng.*not installed"):
        speech.render(PROMPT)
    assert list(tmp_path.iterdir()) == []


@needs_espeak
def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(BadDriverArgument, match="words_per_minute"):
        Speech(tmp_path, words_per_minute=5)
    with pytest.raises(BadDriverArgument, match="text"):
        Speech(tmp_path).render("   ")
    with pytest.raises(BadDriverArgument, match="voice='nosuchvoice'"):
        Speech(tmp_path, voice="nosuchvoice").render(PROMPT)
    assert list(tmp_path.glob("*")) == []


@needs_espeak
def test_text_starting_with_a_dash_is_spoken_not_parsed(tmp_path):
    path = Speech(tmp_path).render("-v 请确认")
    assert read(path)[0].size > 0
