"""The unit's voice: the real Kokoro-82M model, in its real worker process, renders Mandarin
prompts to cached WAVs; recorded prompts replace synthesis; a voice that cannot load says
which file or package is missing."""
from __future__ import annotations

import os
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from drivers.errors import BadDriverArgument, DeviceMissingError, DriverError
from drivers.speech import (KokoroSpeech, RecordedPrompts, SynthesisTimeout, Synthesizer,
                            speak_to_file, speed_for, text_hash)
from drivers.speech import kokoro_assets as assets
from drivers.speech.kokoro import NATURAL_SYLLABLES_PER_MINUTE
from drivers.speech.prompt_files import sha256_file
from kokoro_models import installed_kokoro

PROMPT = "请确认您已阅读投保提示书"                 # twelve syllables
CONSENT = ("您好，根据监管要求，本次保险销售过程将进行全程录音录像，资料将被妥善保管。"
           "请问您是否同意录音录像？同意请回答：同意。")              # 245 phonemes: 2 chunks
LONG = CONSENT * 3


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return installed_kokoro()


@pytest.fixture(scope="module")
def synthesizer(model_dir):
    with Synthesizer(model_dir, idle_s=300) as synth:                # the default voice
        yield synth


@pytest.fixture
def closed(model_dir):
    """A synthesizer that refuses every request: what a cache hit or a recording must not need."""
    synth = Synthesizer(model_dir)
    synth.close()
    return synth


def read(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"), wav.getframerate()


def write_tone(path: Path, seconds: float = 0.5, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())
    return path


def silent_runs(samples: np.ndarray, rate: int, level: int = 100) -> list[float]:
    """Seconds of each run of near-silence (|sample| < level, in 10 ms windows), first to
    last; the first and last are the silence before and after the speech (0 if none)."""
    window = rate // 100
    loud = np.abs(samples[:samples.size // window * window]).reshape(-1, window).max(axis=1)
    runs, current = [], 0
    for quiet in loud < level:
        if quiet:
            current += 1
        else:
            runs.append(current / 100)
            current = 0
    return [runs[0]] + [r for r in runs[1:] if r > 0] + [current / 100]


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- synthesis ---------------------------------------------------------------------------------
def test_renders_a_mandarin_sentence_to_a_cached_wav(tmp_path, synthesizer):
    speech = KokoroSpeech(tmp_path / "cache", synthesizer, words_per_minute=230)
    path = speech.render(PROMPT)
    assert path == tmp_path / "cache" / f"{speech.cache_key(PROMPT)}.wav"
    samples, rate = read(path)
    assert rate == assets.SAMPLE_RATE
    seconds = samples.size / rate
    assert 1.5 < seconds < 8, seconds
    assert np.sqrt((samples.astype(float) ** 2).mean()) > 500          # not silence
    assert np.abs(samples).max() < 32767                                # not clipped flat
    assert speech.renders == 1 and speech.render_ns > 0 and speech.audio_s == pytest.approx(
        seconds, abs=0.01)
    assert list((tmp_path / "cache").iterdir()) == [path]             # no temporary file left


def test_a_cached_prompt_needs_no_worker(tmp_path, synthesizer, closed):
    first = KokoroSpeech(tmp_path, synthesizer, words_per_minute=230)
    path = first.render("请签名")
    data = path.read_bytes()
    again = KokoroSpeech(tmp_path, closed, words_per_minute=230)      # cannot synthesise
    assert again.render("请签名") == path
    assert again.cache_hits == 1 and again.renders == 0
    assert path.read_bytes() == data


def test_pace_voice_and_text_each_make_another_file(tmp_path, synthesizer, model_dir):
    slow = KokoroSpeech(tmp_path, synthesizer, words_per_minute=160)
    fast = KokoroSpeech(tmp_path, synthesizer, words_per_minute=400)
    assert (slow.speed, fast.speed) == (0.9, 1.3)                     # clamped
    slow_path, fast_path = slow.render("请签名"), fast.render("请签名")
    assert slow_path != fast_path
    assert read(slow_path)[0].size > read(fast_path)[0].size * 1.25
    other_voice = KokoroSpeech(tmp_path, Synthesizer(model_dir, "zm_yunxi"), 230)
    assert other_voice.path_for("请签名") != slow_path
    assert slow.path_for("请签字") != slow_path
    assert KokoroSpeech(tmp_path, synthesizer, 150).path_for("请签名") == slow_path  # same speed


def test_render_many_renders_ahead_once_each_and_lets_the_worker_go(tmp_path, model_dir):
    with Synthesizer(model_dir, idle_s=300) as synth:
        speech = KokoroSpeech(tmp_path, synth, words_per_minute=230)
        paths = speech.render_many(["请签名", "谢谢", "请签名"])
        assert paths[0] == paths[2] != paths[1]
        assert speech.renders == 2 and speech.cache_hits == 0
        assert synth.worker_pid is None and synth.starts == 1         # released after the batch
        assert speech.render_many(["谢谢"]) == [paths[1]]               # all cached: no worker
        assert synth.starts == 1 and synth.worker_pid is None


def test_two_threads_rendering_one_text_synthesise_it_once(tmp_path, synthesizer):
    speech = KokoroSpeech(tmp_path, synthesizer, words_per_minute=230)
    barrier = threading.Barrier(2)
    results: list[Path] = []
    errors: list[BaseException] = []

    def render() -> None:
        barrier.wait()
        try:
            results.append(speech.render("请出示身份证件"))
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=render) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results[0] == results[1]
    assert speech.renders == 1 and speech.cache_hits == 1
    assert [p.name for p in tmp_path.iterdir()] == [results[0].name]


def test_speak_to_file_writes_the_wav_and_stops_its_worker(tmp_path, model_dir):
    out = tmp_path / "out" / "prompt.wav"
    out.parent.mkdir()
    rendered = speak_to_file(PROMPT, out, model_dir=model_dir, voice="zm_yunxi",
                             words_per_minute=200)
    samples, rate = read(out)
    assert rate == 24000 and samples.size / rate == pytest.approx(rendered.seconds, abs=0.01)
    assert rendered.dropped == 0 and "↘" in rendered.phonemes
    assert list(out.parent.iterdir()) == [out]


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "   ", "请\0签名", "请" * 2001, None])
def test_text_that_is_no_prompt_is_refused_before_any_work(tmp_path, closed, text):
    with pytest.raises(BadDriverArgument, match="text"):
        KokoroSpeech(tmp_path, closed).render(text)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", ["🙂🙂", "。。。！"])
def test_text_with_nothing_speakable_is_refused_and_leaves_no_file(tmp_path, synthesizer, text):
    speech = KokoroSpeech(tmp_path, synthesizer)
    with pytest.raises(BadDriverArgument, match="nothing in it can be spoken"):
        speech.render(text)
    assert list(tmp_path.iterdir()) == [] and speech.renders == 0


def test_bad_pace_and_voice_are_named(tmp_path, model_dir, synthesizer):
    with pytest.raises(BadDriverArgument, match="words_per_minute=5"):
        KokoroSpeech(tmp_path, synthesizer, words_per_minute=5)
    with pytest.raises(BadDriverArgument, match="voice=zf_xiaoni.*zf_xiaoyi"):
        Synthesizer(model_dir, "zf_xiaoni")                        # left out: wrong tones
    with pytest.raises(BadDriverArgument, match="voice='../x'"):
        Synthesizer(model_dir, "../x")


def test_pace_maps_syllables_per_minute_to_each_voices_speed():
    assert set(NATURAL_SYLLABLES_PER_MINUTE) == set(assets.VOICES)
    assert speed_for(279, "zf_xiaoxiao") == 1.0
    assert speed_for(300, "zf_xiaoxiao") == 1.08                       # the standard templates
    assert speed_for(250, "zf_xiaoxiao") == 0.9
    assert speed_for(220, "zf_xiaoxiao") == 0.9                        # elder: held where clear
    assert speed_for(220, "zf_xiaobei") == 0.93                        # a slower voice
    assert speed_for(60) == 0.9 and speed_for(450) == 1.3            # clamped where it is clear
    for bad in (59, 451, 230.0, "fast"):
        with pytest.raises(BadDriverArgument, match="words_per_minute"):
            speed_for(bad)
    with pytest.raises(BadDriverArgument, match="voice"):
        speed_for(230, "cmn")


# -- the voice cannot load ---------------------------------------------------------------------
def _copy_of(model_dir: Path, tmp_path: Path) -> Path:
    """A models directory whose files are links to the real ones (change one only by
    replacing it, never by writing through the link)."""
    root = tmp_path / "models"
    (root / "kokoro" / "voices").mkdir(parents=True)
    for path, _size, _sha in assets.expected_files(model_dir, [assets.DEFAULT_VOICE]):
        os.link(path, root / path.relative_to(model_dir))
    return root


def test_missing_model_raises_device_missing_naming_the_file(tmp_path):
    empty = tmp_path / "nothing"
    with Synthesizer(empty) as synth:
        with pytest.raises(DeviceMissingError) as raised:
            synth.synthesize(PROMPT, 1.0, tmp_path / "x.wav")
        assert synth.worker_pid is None
        with pytest.raises(DeviceMissingError):
            synth.check()
    message = str(raised.value)
    assert str(empty / "kokoro" / "kokoro-v1.0.int8.onnx") in message and "missing" in message
    assert assets.MODEL_SHA256 in message and "provisioning.models install" in message
    assert not (tmp_path / "x.wav").exists()


def test_corrupt_model_and_voice_raise_device_missing_with_the_expected_hash(tmp_path,
                                                                            model_dir):
    root = _copy_of(model_dir, tmp_path)
    model = root / "kokoro" / "kokoro-v1.0.int8.onnx"
    model.unlink()
    model.write_bytes(b"\0" * 1000)
    speech = KokoroSpeech(tmp_path / "cache", Synthesizer(root))
    with pytest.raises(DeviceMissingError, match=f"{model}: has 1000 bytes.*"
                                                 f"{assets.MODEL_SHA256}"):
        speech.render(PROMPT)

    model.unlink()
    os.link(model_dir / "kokoro" / "kokoro-v1.0.int8.onnx", model)
    voice = root / "kokoro" / "voices" / f"{assets.DEFAULT_VOICE}.bin"
    voice.unlink()
    voice.write_bytes(b"\0" * assets.VOICE_BYTES)                   # right size, wrong bytes
    with Synthesizer(root) as synth:
        with pytest.raises(DeviceMissingError, match=f"{voice}: has SHA-256 .*"
                                                     f"{assets.VOICES[assets.DEFAULT_VOICE]}"):
            synth.prepare()
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_missing_misaki_raises_device_missing_with_the_pip_line(tmp_path, model_dir,
                                                                monkeypatch):
    # an environment where `import misaki` fails the way an uninstalled package does
    shadow = tmp_path / "site" / "misaki"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'misaki'\", name='misaki')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    with Synthesizer(model_dir) as synth:
        with pytest.raises(DeviceMissingError, match="'misaki'.*pip install .*misaki==0.9.4"):
            synth.prepare()
        assert synth.worker_pid is None


# -- the worker process ------------------------------------------------------------------------
def test_synthesis_memory_stays_in_the_worker(tmp_path, synthesizer):
    synthesizer.prepare()
    speech = KokoroSpeech(tmp_path, synthesizer, words_per_minute=230)
    before = rss_bytes()
    path = speech.render(CONSENT)
    grown = rss_bytes() - before
    assert grown < 30 * 1024 * 1024, f"the test process grew by {grown / 2**20:.0f} MB"
    assert synthesizer.peak_rss_kb > 250 * 1024                       # ... the worker did

    # the prompt is two chunks for the model; joined, it has no gap a listener would hear as
    # the end (nor one after which Whisper stops listening), and no long silence at its ends
    samples, rate = read(path)
    runs = silent_runs(samples, rate)
    assert max(runs[1:-1]) < 0.6, runs
    assert runs[0] < 0.15 and runs[-1] < 0.15, runs


def test_the_worker_exits_when_idle_and_a_new_one_serves_the_next_text(tmp_path, model_dir):
    with Synthesizer(model_dir, idle_s=0.5) as synth:
        speech = KokoroSpeech(tmp_path, synth, words_per_minute=230)
        speech.render("谢谢")
        assert synth.wait_released(120)                                # exited by itself
        assert synth.worker_pid is None
        speech.render("再见")                                           # a new worker
        assert synth.starts == 2 and speech.renders == 2


def test_a_worker_that_overruns_is_killed_and_leaves_no_file(tmp_path, model_dir):
    with Synthesizer(model_dir, timeout_s=0.5) as synth:
        synth.prepare()                              # loading is not part of the request
        speech = KokoroSpeech(tmp_path, synth, words_per_minute=230)
        with pytest.raises(SynthesisTimeout, match="killed"):
            speech.render(LONG)                      # ~40 s of speech: far more than 0.5 s
        assert synth.worker_pid is None
    assert list(tmp_path.iterdir()) == []


def test_a_closed_synthesizer_refuses_requests_and_closes_twice(tmp_path, model_dir):
    synth = Synthesizer(model_dir)
    synth.close()
    synth.close()
    with pytest.raises(DriverError, match="closed"):
        synth.synthesize(PROMPT, 1.0, tmp_path / "x.wav")


# -- recorded prompts --------------------------------------------------------------------------
def test_a_recording_named_by_the_text_hash_replaces_synthesis(tmp_path, closed):
    recordings = tmp_path / "recorded"
    recordings.mkdir()
    recording = write_tone(recordings / f"{text_hash(PROMPT)}.wav")
    speech = KokoroSpeech(tmp_path / "cache", closed, recorded=RecordedPrompts(recordings))
    assert speech.render(PROMPT) == recording
    assert speech.recorded_hits == 1 and speech.renders == 0
    with pytest.raises(DriverError, match="closed"):               # no recording: synthesis
        speech.render("请签名")


def test_a_recording_given_by_mapping_is_checked_against_its_pin(tmp_path, closed):
    recording = write_tone(tmp_path / "consent.wav")
    pin = sha256_file(recording)
    good = RecordedPrompts(files={PROMPT: recording}, pins={PROMPT: pin})
    assert KokoroSpeech(tmp_path, closed, recorded=good).render(PROMPT) == recording
    bad = RecordedPrompts(files={PROMPT: recording}, pins={PROMPT: "0" * 64})
    with pytest.raises(DriverError, match=f"{recording} has SHA-256 {pin}.*approved"):
        KokoroSpeech(tmp_path, closed, recorded=bad).render(PROMPT)
    with pytest.raises(BadDriverArgument, match="pins"):
        RecordedPrompts(pins={PROMPT: "not a hash"})


@pytest.mark.parametrize("make", ["not a wav", "empty wav", "symlink", "missing"])
def test_an_unusable_recording_is_an_error_not_a_silent_synthesis(tmp_path, closed, make):
    recordings = tmp_path / "recorded"
    recordings.mkdir()
    path = recordings / f"{text_hash(PROMPT)}.wav"
    files = {}
    if make == "not a wav":
        path.write_bytes(b"RIFF....nonsense")
    elif make == "empty wav":
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(16000)
    elif make == "symlink":
        path.symlink_to(write_tone(tmp_path / "elsewhere.wav"))
    else:
        files = {PROMPT: tmp_path / "gone.wav"}
    speech = KokoroSpeech(tmp_path / "cache", closed,
                          recorded=RecordedPrompts(recordings, files=files))
    with pytest.raises(DriverError, match="speech: ") as raised:
        speech.render(PROMPT)
    assert not isinstance(raised.value, BadDriverArgument)
    assert "closed" not in str(raised.value)
