"""The real PyAudio backend against real ALSA: file-backed PCMs in a temporary HOME.

Each scenario runs in a child process (``alsa_child.py``) with HOME pointing at a directory
whose ``.asoundrc`` defines the PCMs of :mod:`drivers.audio.alsa_files`: the capture PCM
reads a known tone file, the playback PCM writes to a file. How those PCMs behave (no pacing,
stale data after the end of the infile, ...) is written down in that module's docstring.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drivers.audio.alsa_files import alsa_env, write_asoundrc
from drivers.audio.base import AudioBlock
from drivers.audio.collect import Gap, accounting_problems
from drivers.audio.wav import write_wav

pytest.importorskip("pyaudio")

RATE = 48_000
TONE_HZ = 997          # prime: the pattern never repeats within the file, so misaligned
TONE_SECONDS = 4       # samples cannot match by accident
CHILD = Path(__file__).with_name("alsa_child.py")
REPO = Path(__file__).resolve().parents[3]


def known_tone(seconds: int = TONE_SECONDS) -> np.ndarray:
    t = np.arange(seconds * RATE) / RATE
    noise = np.random.default_rng(1234).normal(0, 60, t.size)
    return np.rint(16_000 * np.sin(2 * np.pi * TONE_HZ * t) + noise).astype("<i2")


@pytest.fixture
def alsa(tmp_path):
    """A HOME with the file-backed PCMs; the capture PCM's sink starts as /dev/null."""
    tone = known_tone()
    tone.tofile(tmp_path / "tone.raw")
    sink = tmp_path / "capture-sink"
    sink.symlink_to("/dev/null")
    pcms = write_asoundrc(tmp_path / "home", infile=tmp_path / "tone.raw",
                          outfile=tmp_path / "played.raw", capture_sink=sink)
    return pcms, tone, sink


def run_child(pcms, scenario: str, config: dict, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, str(CHILD), scenario, json.dumps(config), str(out)],
                          env=alsa_env(pcms.home), cwd=REPO, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    return json.loads((out / "result.json").read_text())


def rebuild(events: list) -> list[tuple[str, object]]:
    rebuilt = []
    for kind, *rest in events:
        if kind == "block":
            rebuilt.append((kind, AudioBlock(b"", rest[1], rest[2], rest[0])))
        elif kind == "gap":
            rebuilt.append((kind, Gap(*rest)))
        elif kind == "lost":
            rebuilt.append((kind, tuple(rest)))
        else:
            rebuilt.append((kind, rest[0]))
    return rebuilt


def blocks_with_pcm(result: dict, pcm: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """(sample_index, first_sample_ns, samples) of each delivered block."""
    out, offset = [], 0
    for kind, *rest in result["events"]:
        if kind == "block":
            index, frames, first_ns = rest
            out.append((index, first_ns, pcm[offset:offset + frames, 0]))
            offset += frames
    return out


def test_capture_returns_the_known_tone_sample_exact(alsa, tmp_path):
    pcms, tone, _ = alsa
    result = run_child(pcms, "capture", {"device": pcms.capture, "rate": RATE,
                                         "block_frames": 960, "frames": 2 * RATE},
                       tmp_path / "out")
    assert result["done"]
    assert result["device_name"] == "dualrec_capture"
    assert result["timestamp_source"] == "clock"     # file PCMs give no usable ADC time
    assert (result["health_running"], result["health_stopped"]) == ("ok", "stopped")
    assert accounting_problems(rebuild(result["events"]), RATE) == []

    blocks = blocks_with_pcm(result, np.load(tmp_path / "out" / "pcm.npy"))
    anchor = blocks[0][1]
    assert blocks[0][0] == 0
    assert 0 < anchor - result["started_ns"] < 2_000_000_000   # on CLOCK_MONOTONIC
    in_file = [b for b in blocks if b[0] + b[2].size <= tone.size]
    assert sum(b[2].size for b in in_file) >= RATE             # a second of audio or more
    for index, first_ns, samples in in_file:
        assert first_ns == anchor + index * 1_000_000_000 // RATE
        assert np.array_equal(samples, tone[index:index + samples.size]), index
    # the leading run without holes carries the tone
    run = [blocks[0][2]]
    for (i0, _, s0), (i1, _, s1) in zip(blocks, blocks[1:]):
        if i1 != i0 + s0.size or len(run) * 960 >= RATE:
            break
        run.append(s1)
    heard = np.concatenate(run).astype(float)
    spectrum = np.abs(np.fft.rfft(heard * np.hanning(heard.size)))
    assert abs(np.argmax(spectrum) * RATE / heard.size - TONE_HZ) < 2 * RATE / heard.size


def test_a_slow_sink_loses_whole_blocks_with_exact_gaps(alsa, tmp_path):
    pcms, _, _ = alsa
    tone = known_tone(30)         # the unpaced PCM runs through it in well under a second
    tone.tofile(pcms.infile)
    result = run_child(pcms, "capture", {"device": pcms.capture, "rate": RATE,
                                         "block_frames": 480, "frames": 2 * tone.size,
                                         "sink_delay_s": 0.002, "options": {"queue_s": 0.05}},
                       tmp_path / "out")
    events = rebuild(result["events"])
    gaps = [payload for kind, payload in events if kind == "gap"]
    assert gaps and all("delivery queue full" in g.reason for g in gaps)
    assert accounting_problems(events, RATE) == []
    # after each hole the samples are the file's samples at the new index: the hole is exact
    blocks = blocks_with_pcm(result, np.load(tmp_path / "out" / "pcm.npy"))
    after_hole = 0
    for (i0, _, s0), (index, _, samples) in zip(blocks, blocks[1:]):
        if index + samples.size <= tone.size:
            assert np.array_equal(samples, tone[index:index + samples.size]), index
            after_hole += index != i0 + s0.size
    assert after_hole >= 3


def test_a_device_that_fails_is_lost_then_restored(alsa, tmp_path):
    pcms, tone, sink = alsa
    sink.unlink()
    sink.symlink_to("/dev/full")     # the file plugin's writes fail: the stream dies
    result = run_child(pcms, "capture",
                       {"device": pcms.capture, "rate": RATE, "block_frames": 960,
                        "frames": RATE // 2, "flip_on_lost": [str(sink), "/dev/null"],
                        "options": {"reopen_interval_s": 0.05}},
                       tmp_path / "out")
    assert result["done"]
    events = rebuild(result["events"])
    kinds = [kind for kind, _ in events if kind != "block"]
    assert kinds[:3] == ["lost", "restored", "gap"]
    lost_ns, reason = next(payload for kind, payload in events if kind == "lost")
    assert "'dualrec_capture'" in reason and "stopped" in reason
    assert result["health_when_lost"] == ["lost"]
    assert result["health_running"] == "ok"
    assert accounting_problems(events, RATE) == []
    gap = next(payload for kind, payload in events if kind == "gap")
    assert gap.start_ns == lost_ns and gap.end_ns > lost_ns
    # the reopened stream reads the infile from its start again, at the restored index
    blocks = blocks_with_pcm(result, np.load(tmp_path / "out" / "pcm.npy"))
    restored_index = next(b[0] for b in blocks if b[1] >= gap.end_ns)
    after = [b for b in blocks if b[0] >= restored_index][:5]
    for index, _, samples in after:
        offset = index - restored_index
        assert np.array_equal(samples, tone[offset:offset + samples.size])


def test_playback_writes_the_wav_samples_to_the_device(alsa, tmp_path):
    pcms, _, _ = alsa
    rng = np.random.default_rng(5)
    mono = rng.integers(-30_000, 30_000, 22_050 + 77).astype("<i2")
    stereo = rng.integers(-30_000, 30_000, (4_800, 2)).astype("<i2")
    wavs = [write_wav(tmp_path / "mono.wav", mono, 22_050),
            write_wav(tmp_path / "stereo.wav", stereo, 48_000)]
    result = run_child(pcms, "play", {"device": pcms.playback, "outfile": str(pcms.outfile),
                                      "wavs": [str(w) for w in wavs]}, tmp_path / "out")
    assert result["device_name"] == "dualrec_playback"
    for clip, expected in zip(result["clips"], (mono, stereo)):
        assert clip["finished"] and clip["completed"] and clip["error"] == "None"
        assert not clip["playing_after"]
        assert clip["ended_ns"] >= clip["started_ns"]
        assert bytes.fromhex(clip["outfile"]) == expected.tobytes()   # each clip truncates


def test_default_device_is_portaudios_default(alsa, tmp_path):
    pcms, tone, _ = alsa
    result = run_child(pcms, "capture", {"device": None, "rate": RATE, "block_frames": 960,
                                         "frames": 960}, tmp_path / "out")
    assert result["device_name"] == "default"
    first = np.load(tmp_path / "out" / "pcm.npy")[:960, 0]
    assert np.array_equal(first, tone[:960])


def test_a_missing_device_is_named_with_what_exists(alsa, tmp_path):
    pcms, _, _ = alsa
    result = run_child(pcms, "missing", {"device": "xyz"}, tmp_path / "out")
    kind, is_file_not_found, message = result["microphone"]
    assert kind == "DeviceMissingError" and is_file_not_found
    assert message.startswith("microphone 'xyz': no such PyAudio input device; found: ")
    assert "'dualrec_capture'" in message and "'default'" in message
    kind, _, message = result["speaker"]
    assert kind == "DeviceMissingError"
    assert message.startswith("speaker 'xyz': no such PyAudio output device; found: ")
    assert "'dualrec_playback'" in message
