"""The pieces of the side-by-side export on their own: the mix of the counter's and the parties'
audio (each sample where its time says, a hole kept silent, another rate resampled), the
picture times of several sources merged (every frame once, at its own time, fillers only where
no one has a frame), and the panels' layout."""
from __future__ import annotations

import heapq
import wave
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.office.export.audio_mix import MixedAudio
from firmware.office.export.audio_source import RecordedAudio
from firmware.office.export.media import open_media
from firmware.office.export.panels import MAX_HEIGHT, PanelLayout
from firmware.office.export.session_data import AudioSegment
from firmware.office.export.side_by_side import slot_times
from firmware.office.export.video_source import VideoFrame

NS = 1_000_000_000
T0 = 10 * NS


def _wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def _source(tmp_path: Path, name: str, rate: int,
            pieces: list[tuple[int, np.ndarray]]) -> RecordedAudio:
    """Segments of constant level ``pieces`` = [(first_sample_ns, samples)], one per WAV."""
    segments, index = [], 0
    for n, (first_ns, samples) in enumerate(pieces, start=1):
        wav = _wav(tmp_path / f"{name}-{n}.wav", samples, rate)
        segments.append(AudioSegment(n, wav, first_ns, index, rate, 1, len(samples)))
        index += len(samples) + 10_000          # never continuous: placed by its time
    return RecordedAudio(segments, open_media)


def _grid(mix: MixedAudio, t0_ns: int, total: int) -> np.ndarray:
    out = np.zeros(total, np.float32)
    for chunk in mix.placed(t0_ns):
        end = min(total, chunk.index + len(chunk.samples))
        out[chunk.index:end] += chunk.samples[:end - chunk.index, 0]
    return out


def test_the_mix_puts_each_sample_at_its_time_and_keeps_holes(tmp_path):
    counter = _source(tmp_path, "counter", 48_000, [(T0, np.full(48_000, 0.25)),
                                                    (T0 + 2 * NS, np.full(24_000, 0.25))])
    # the party at 16 kHz (resampled), starting 0.5 s in, for 2 s: over the counter's hole
    party = _source(tmp_path, "party", 16_000, [(T0 + NS // 2, np.full(32_000, 0.5))])
    mix = MixedAudio([counter, party])
    assert (mix.rate, mix.channels) == (48_000, 1)
    grid = _grid(mix, T0, 3 * 48_000)
    assert np.allclose(grid[:24_000], 0.25, atol=1e-3)                 # counter alone
    assert np.allclose(grid[24_010:47_990], 0.75, atol=1e-3)          # both
    assert np.allclose(grid[48_010:96_000 - 10], 0.5, atol=1e-3)      # the counter's hole
    assert np.allclose(grid[96_010:120_000], 0.75, atol=1e-3)         # both again
    assert np.allclose(grid[120_010:], 0.0)                            # everyone's hole
    assert abs(int(np.flatnonzero(grid > 0.6)[0]) - 24_000) <= 1


def test_the_mix_is_clipped_not_wrapped(tmp_path):
    a = _source(tmp_path, "a", 48_000, [(T0, np.full(4_800, 0.9))])
    b = _source(tmp_path, "b", 48_000, [(T0, np.full(4_800, 0.9))])
    grid = _grid(MixedAudio([a, b]), T0, 4_800)
    assert grid.max() <= 1.0 and grid.min() > 0.99


def _frames(times: list[int], source: int):
    return [(t, source, VideoFrame(t, np.zeros((2, 2, 3), np.uint8))) for t in times]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 8 * NS), max_size=40, unique=True), min_size=1,
                max_size=3))
def test_every_frame_is_placed_once_at_its_own_time(sources):
    period, slack = NS // 30, NS // 20
    end = 9 * NS
    events = heapq.merge(*(_frames(sorted(times), i) for i, times in enumerate(sources)),
                         key=lambda e: (e[0], e[1]))
    slots = list(slot_times(events, 0, end, slack, period))
    times = [t for t, _ in slots]
    assert times == sorted(set(times)), "one picture per instant, in order"
    assert all(f.t_ns == t for t, frames in slots for _, f in frames), "each at its own time"
    placed = sorted((f.t_ns, i) for _, frames in slots for i, f in frames)
    assert placed == sorted((t, i) for i, ts in enumerate(sources) for t in ts), "each once"
    edges = [0] + times + [end]
    assert max(b - a for a, b in zip(edges, edges[1:])) <= NS + slack, \
        "a picture at least once a second"
    frame_times = sorted({t for ts in sources for t in ts} | {end})
    for t, frames in slots:
        if not frames:      # a filler: only where no one has a frame for longer than slack
            following = next(ft for ft in frame_times if ft > t)
            assert following - t > slack
            preceding = [ft for ft in frame_times if ft < t]
            assert not preceding or t - preceding[-1] >= period


def test_panels_share_the_counters_height_and_keep_their_shape():
    layout = PanelLayout.make([("counter", "counter", (1920, 1080)),
                               ("p1", "remote p1", (480, 480)),
                               ("p2", "remote p2", None)])
    assert layout.height == MAX_HEIGHT
    assert [(p.x, p.width) for p in layout.panels] == [(0, 1280), (1280, 720), (2000, 960)]
    assert layout.width == 2960
    small = PanelLayout.make([("counter", "counter", (320, 240)), ("p1", "p1", (640, 480))])
    assert (small.width, small.height) == (640, 240)
