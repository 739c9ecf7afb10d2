"""The sample grid and loss accounting shared by both backends; the backend factory."""
from __future__ import annotations

import pytest

from drivers.audio import BACKENDS, open_microphone, open_speaker
from drivers.audio.collect import CollectingSink, accounting_problems
from drivers.audio.ledger import CaptureLedger
from drivers.clock import SimClock
from drivers.errors import BadDriverArgument


def test_grid_is_exact_integer_nanoseconds_at_44100_hz():
    ledger = CaptureLedger(CollectingSink(), rate=44_100, channels=1)
    ledger.set_anchor(5_000_000_000)
    ledger.set_anchor(7)  # the anchor is fixed once
    assert ledger.ns_of(0) == 5_000_000_000
    assert ledger.ns_of(44_100) == 6_000_000_000
    assert ledger.ns_of(1) == 5_000_022_675      # 22675.7 ns, floored
    for index in (1, 2, 441, 12_345, 44_099, 10**9):
        assert ledger.index_at(ledger.ns_of(index)) == index
        assert ledger.index_at(ledger.ns_of(index) + 1) == index + 1
        assert ledger.index_nearest(ledger.ns_of(index) + 10_000) == index


def test_losses_are_reported_once_with_exact_ranges():
    sink = CollectingSink()
    ledger = CaptureLedger(sink, rate=8_000, channels=2)
    ledger.set_anchor(1_000)
    ledger.deliver(b"\x00" * 4 * 80)                  # samples 0..79
    ledger.skip(40, "overflow")                         # 80..119 lost
    ledger.deliver(b"\x00" * 4 * 80)                  # 120..199
    ledger.mark_lost("gone")
    ledger.mark_lost("gone again")                      # said once
    ledger.mark_restored(ledger.index_at(1_000 + 10**9 // 2))   # back at 0.5 s
    ledger.deliver(b"\x00" * 4 * 8)
    ledger.mark_lost("gone")
    ledger.finish(1_000 + 10**9)
    assert [b.sample_index for b in sink.blocks] == [0, 120, 4000]
    assert [(g.start_ns, g.end_ns) for g in sink.gaps] == [
        (1_000 + 10_000_000, 1_000 + 15_000_000), (1_000 + 25_000_000, 1_000 + 500_000_000),
        (1_000 + 501_000_000, 1_000 + 1_000_000_000)]
    assert sink.lost == [(1_000 + 25_000_000, "gone"), (1_000 + 501_000_000, "gone")]
    assert sink.restored == [1_000 + 500_000_000]
    assert ledger.frames_delivered == 168 and ledger.frames_lost == 40 + 3800 + 3992
    assert accounting_problems(sink.events, 8_000) == []


def test_accounting_check_finds_an_unexplained_hole():
    sink = CollectingSink()
    ledger = CaptureLedger(sink, rate=8_000, channels=1)
    ledger.set_anchor(0)
    ledger.deliver(b"\x00" * 20)
    ledger.next_index += 5  # samples vanish without a gap
    ledger.deliver(b"\x00" * 20)
    assert accounting_problems(sink.events, 8_000) == [
        "event 1 (block): sample_index 15, expected 10"]


def test_unknown_backend_is_named():
    clock = SimClock(realtime=False)
    with pytest.raises(BadDriverArgument, match="'alsa'"):
        open_microphone("alsa", clock=clock)
    with pytest.raises(BadDriverArgument, match="'portaudio'"):
        open_speaker("portaudio", clock=clock)
    assert BACKENDS == ("sim", "pyaudio")


@pytest.mark.parametrize("kwargs, name", [({"rate": 1000}, "rate"), ({"channels": 0}, "channels"),
                                          ({"block_frames": 3}, "block_frames"),
                                          ({"latency": 3}, "latency")])
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(BadDriverArgument, match=name):
        open_microphone("sim", clock=SimClock(realtime=False), **kwargs)


def test_sim_backends_from_the_factory():
    clock = SimClock(realtime=False)
    with open_microphone("sim", clock=clock, rate=16_000, channels=2, block_frames=320,
                         device="counter-mic") as mic:
        assert (mic.rate, mic.channels, mic.block_frames, mic.device) == (
            16_000, 2, 320, "counter-mic")
    with open_speaker("sim", clock=clock, slice_ms=5) as speaker:
        assert not speaker.playing
    with pytest.raises(BadDriverArgument, match="chunk_frames"):
        open_speaker("sim", clock=clock, chunk_frames=5)
