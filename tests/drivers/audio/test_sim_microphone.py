"""The simulated microphone: sample accounting, overflow, unplug/replug, sources, lifecycle."""
from __future__ import annotations

import numpy as np
import pytest

from drivers.audio import AudioStateError, open_microphone
from drivers.audio.collect import CollectingSink, accounting_problems
from drivers.audio.sim import SimMicrophone
from drivers.audio.wav import write_wav
from drivers.clock import SimClock
from drivers.errors import BadDriverArgument

RATE = 48_000
BLOCK = 960  # 20 ms


@pytest.fixture
def fast_clock() -> SimClock:
    return SimClock(realtime=False)


@pytest.fixture
def mic(fast_clock):
    with open_microphone("sim", clock=fast_clock, rate=RATE, block_frames=BLOCK) as mic:
        yield mic


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


def test_samples_delivered_equal_samples_made_over_ten_seconds(mic, fast_clock):
    sink = CollectingSink()
    mic.set_source("tone", freq=440)
    assert mic.health == "stopped"
    mic.start(sink)
    assert mic.health == "ok"
    assert sink.wait_frames(10 * RATE)
    mic.stop()
    assert mic.health == "stopped"

    anchor = sink.blocks[0].first_sample_ns
    made = (fast_clock.monotonic_ns() - anchor) * RATE // 1_000_000_000
    assert sink.frames == made >= 10 * RATE
    assert sink.gaps == [] and sink.lost == []
    assert accounting_problems(sink.events, RATE) == []
    assert all(b.frames == BLOCK and len(b.pcm) == 2 * BLOCK for b in sink.blocks)
    # exactly sample_index / rate apart, in integer nanoseconds
    assert [b.first_sample_ns - anchor for b in sink.blocks[:3]] == [0, 20_000_000, 40_000_000]
    assert abs(peak_hz(sink.samples()[:RATE, 0].astype(float), RATE) - 440) <= 1


def test_inject_overflow_makes_one_gap_and_a_hole_of_its_size(mic):
    sink = CollectingSink()
    mic.set_source("tone", freq=1000)
    mic.start(sink)
    assert sink.wait_frames(RATE)
    lost = mic.inject_overflow(37.5)
    assert lost == 1800
    assert sink.wait_for(lambda s: s.gaps and s.blocks[-1].first_sample_ns > s.gaps[0].end_ns)
    mic.stop()

    assert len(sink.gaps) == 1
    gap = sink.gaps[0]
    kinds = [kind for kind, _ in sink.events]
    at = kinds.index("gap")
    before, after = sink.events[at - 1][1], sink.events[at + 1][1]
    assert after.sample_index - (before.sample_index + before.frames) == 1800
    assert gap.start_ns == before.first_sample_ns + BLOCK * 1_000_000_000 // RATE
    assert gap.end_ns - gap.start_ns == 37_500_000
    assert gap.end_ns == after.first_sample_ns
    assert "overflow" in gap.reason
    assert accounting_problems(sink.events, RATE) == []


def test_unplug_and_replug_report_loss_restoration_and_the_exact_gap(mic, fast_clock):
    sink = CollectingSink()
    mic.set_source("speech")
    mic.start(sink)
    assert sink.wait_frames(RATE // 2)
    mic.unplug()
    assert sink.wait_for(lambda s: s.lost)
    assert mic.health == "lost"
    lost_ns, reason = sink.lost[0]
    assert "'sim'" in reason and "unplugged" in reason
    fast_clock.advance(2.0)
    mic.replug()
    assert sink.wait_for(lambda s: s.restored and s.blocks[-1].first_sample_ns > s.restored[0])
    assert mic.health == "ok"
    mic.stop()

    assert sink.restored[0] == lost_ns + 2_000_000_000
    assert sink.gaps[0].start_ns == lost_ns and sink.gaps[0].end_ns == sink.restored[0]
    first_after = next(b for b in sink.blocks if b.first_sample_ns >= sink.restored[0])
    last_before = [b for b in sink.blocks if b.first_sample_ns < lost_ns][-1]
    assert first_after.sample_index - (last_before.sample_index + last_before.frames) == 2 * RATE
    assert [k for k, _ in sink.events if k != "block"] == ["lost", "restored", "gap"]
    assert accounting_problems(sink.events, RATE) == []


def test_stop_while_unplugged_closes_the_loss_with_a_gap(mic, fast_clock):
    sink = CollectingSink()
    mic.start(sink)
    assert sink.wait_frames(BLOCK * 5)
    mic.unplug()
    assert sink.wait_for(lambda s: s.lost)
    fast_clock.advance(0.5)
    mic.stop()
    assert len(sink.gaps) == 1 and "not restored" in sink.gaps[0].reason
    assert sink.gaps[0].end_ns - sink.gaps[0].start_ns == 500_000_000
    assert sink.restored == []
    assert accounting_problems(sink.events, RATE) == []


def test_fed_samples_come_back_exactly_then_the_source_resumes(fast_clock):
    mic = SimMicrophone(clock=fast_clock, rate=16_000, channels=2, block_frames=160)
    fed = np.random.default_rng(7).integers(-20_000, 20_000, (1000, 2)).astype("<i2")
    mic.set_source("silence")
    mic.feed(fed.tobytes())
    with pytest.raises(BadDriverArgument):
        mic.feed(b"\x00\x01\x02")  # not whole stereo frames
    sink = CollectingSink()
    mic.start(sink)
    assert sink.wait_frames(2000)
    mic.close()
    got = sink.samples(channels=2)
    assert np.array_equal(got[:1000], fed)
    assert not got[1000:2000].any()
    assert mic.fed_pending == 0
    assert all(len(b.pcm) == b.frames * 4 for b in sink.blocks)


def test_speech_source_has_energy_and_pauses(mic):
    mic.set_source("speech")
    sink = CollectingSink()
    mic.start(sink)
    assert sink.wait_frames(3 * RATE)
    mic.stop()
    x = sink.samples()[:3 * RATE, 0].astype(float) / 32768
    windows = np.sqrt((x.reshape(-1, RATE // 20) ** 2).mean(axis=1))  # 50 ms RMS
    assert windows.max() > 0.05
    assert (windows < 0.001).sum() >= 4     # gaps between syllables and phrases
    assert 100 < peak_hz(x, RATE) < 500     # a voice's pitch and low harmonics


def test_wav_source_loops_the_file(mic, tmp_path):
    ramp = (np.arange(4800) - 2400).astype("<i2")
    path = write_wav(tmp_path / "ramp.wav", ramp, RATE)
    mic.set_source("wav", path=path)
    sink = CollectingSink()
    mic.start(sink)
    assert sink.wait_frames(3 * 4800)
    mic.stop()
    got = sink.samples()[:3 * 4800, 0]
    assert np.abs(got - np.tile(ramp, 3)).max() <= 1


@pytest.mark.parametrize("kind, params", [("noise", {}), ("tone", {"pitch": 3}),
                                          ("tone", {"freq": 30_000})])
def test_bad_sources_are_refused_by_name(mic, kind, params):
    with pytest.raises(BadDriverArgument, match=kind):
        mic.set_source(kind, **params)


def test_lifecycle_close_twice_and_wrong_states(fast_clock):
    mic = SimMicrophone(clock=fast_clock)
    sink = CollectingSink()
    mic.start(sink)
    with pytest.raises(AudioStateError, match="already started"):
        mic.start(sink)
    mic.stop()
    mic.stop()
    mic.start(sink)  # a stopped microphone starts again, counting from 0
    mic.close()
    mic.close()
    with pytest.raises(AudioStateError, match="closed"):
        mic.start(sink)
    assert mic.health == "stopped"


def test_a_failing_sink_is_reported_not_silent(mic):
    class Broken(CollectingSink):
        def audioblock(self, block):
            raise RuntimeError("disk on fire")

    sink = Broken()
    mic.start(sink)
    assert sink.wait_for(lambda s: s.lost)
    assert "disk on fire" in sink.lost[0][1]
    assert isinstance(mic.failure, RuntimeError)
    assert mic.health == "lost"
    mic.stop()


def test_stop_from_the_sink_is_refused_and_reported(mic):
    class Stopper(CollectingSink):
        def audioblock(self, block):
            mic.stop()

    sink = Stopper()
    mic.start(sink)
    assert sink.wait_for(lambda s: s.lost)
    assert "stop() from the sink's callback" in sink.lost[0][1]
    mic.stop()
    assert mic.health == "stopped"


def test_realtime_clock_paces_the_audio():
    clock = SimClock(realtime=True)
    with SimMicrophone(clock=clock, rate=RATE, block_frames=480) as mic:
        sink = CollectingSink()
        mic.start(sink)
        assert sink.wait_frames(RATE // 5)
        start = sink.blocks[0].first_sample_ns
        mic.stop()
        elapsed_ns = clock.monotonic_ns() - start
        assert abs(sink.frames - elapsed_ns * RATE / 1e9) <= 2 * 480
