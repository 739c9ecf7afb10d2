"""The simulated speaker: real durations on the clock, one clip at a time, loopback."""
from __future__ import annotations

import time

import numpy as np
import pytest

from drivers.audio import AudioStateError, open_microphone, open_speaker
from drivers.audio.collect import CollectingSink
from drivers.audio.wav import write_wav
from drivers.clock import SimClock
from drivers.errors import BadDriverArgument


def tone_wav(path, seconds: float, rate: int = 22_050, freq: float = 600.0):
    t = np.arange(int(seconds * rate)) / rate
    return write_wav(path, (0.5 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2"), rate)


def test_play_takes_the_wav_duration_on_the_clock(tmp_path):
    clock = SimClock(realtime=False)
    speaker = open_speaker("sim", clock=clock)
    path = tone_wav(tmp_path / "prompt.wav", 1.5)  # 33075 frames at 22050 Hz
    playback = speaker.play(path)
    assert playback.wait(5)
    assert playback.completed and playback.error is None
    assert playback.ended_ns - playback.started_ns == 33075 * 10**9 // 22050 == 1_500_000_000
    assert clock.monotonic_ns() == playback.ended_ns
    (clip,) = speaker.played
    assert (clip.path, clip.started_ns, clip.ended_ns, clip.completed) == (
        path, playback.started_ns, playback.ended_ns, True)
    assert not speaker.playing
    speaker.close()
    speaker.close()


def test_a_new_play_stops_the_old_one_and_stop_is_immediate(tmp_path):
    clock = SimClock(realtime=True)
    long, short = tone_wav(tmp_path / "long.wav", 10), tone_wav(tmp_path / "short.wav", 0.1)
    with open_speaker("sim", clock=clock) as speaker:
        first = speaker.play(long)
        time.sleep(0.05)
        assert speaker.playing and not first.done
        second = speaker.play(short)
        assert first.done and not first.completed
        assert first.ended_ns - first.started_ns < 1_000_000_000
        assert second.wait(5) and second.completed
        third = speaker.play(long)
        t0 = time.monotonic()
        third.stop()
        assert time.monotonic() - t0 < 0.5 and third.done and not third.completed
        third.stop()  # safe when done
        assert [(c.path.name, c.completed) for c in speaker.played] == [
            ("long.wav", False), ("short.wav", True), ("long.wav", False)]
    with pytest.raises(AudioStateError, match="closed"):
        speaker.play(short)


def test_loopback_mixes_the_prompt_into_the_recorded_audio(tmp_path):
    clock = SimClock(realtime=False)
    mic = open_microphone("sim", clock=clock, rate=48_000, block_frames=960)
    speaker = open_speaker("sim", clock=clock, loopback=mic, loopback_gain=0.5)
    sink = CollectingSink()
    mic.set_source("silence")
    mic.start(sink)
    assert sink.wait_frames(48_000)
    playback = speaker.play(tone_wav(tmp_path / "p.wav", 1.0, freq=600))
    assert playback.wait(5)
    assert sink.wait_for(lambda s: s.blocks[-1].first_sample_ns > playback.ended_ns + 10**9)
    mic.close()
    speaker.close()

    anchor = sink.blocks[0].first_sample_ns
    x = sink.samples()[:, 0].astype(float) / 32768
    start = (playback.started_ns - anchor) * 48_000 // 10**9
    heard = x[start + 4800:start + 43200]  # the middle 0.8 s of the 1 s prompt
    assert np.sqrt((heard ** 2).mean()) > 0.15
    spectrum = np.abs(np.fft.rfft(heard))
    assert abs(np.argmax(spectrum) * 48_000 / heard.size - 600) < 3
    assert not x[start - 48_000:start - 100].any()            # silence before the prompt
    assert not x[start + 48_100:start + 96_000].any()          # and after it


def test_bad_wav_files_are_refused_by_name(tmp_path):
    with open_speaker("sim", clock=SimClock(realtime=False)) as speaker:
        with pytest.raises(BadDriverArgument, match="no such file"):
            speaker.play(tmp_path / "missing.wav")
        (tmp_path / "text.wav").write_text("not audio")
        with pytest.raises(BadDriverArgument, match="not a PCM WAV"):
            speaker.play(tmp_path / "text.wav")
