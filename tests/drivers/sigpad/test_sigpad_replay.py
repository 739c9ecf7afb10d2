"""The replay pad: recorded streams through the parser on the clock, unplug/replug, recordings."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from drivers.clock import SimClock
from drivers.errors import BadDriverArgument, DriverError
from drivers.sigpad import (PadInfo, PenSample, ReplaySignaturePad, Signature, demo_recording,
                            load_events, open_signature_pad, save_events, strokes_to_events)

INFO = PadInfo("replay pad", 0, 10000, 0, 6000, 1023, 40, 40)
MS = 1_000_000


class Calls:
    """A PadSink that records every call in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.lock = threading.Lock()

    def pen_sample(self, sample: PenSample) -> None:
        with self.lock:
            self.calls.append(("sample", sample))

    def stroke_ended(self, timestamp_ns: int) -> None:
        with self.lock:
            self.calls.append(("end", timestamp_ns))

    def pad_lost(self, timestamp_ns: int, reason: str) -> None:
        with self.lock:
            self.calls.append(("lost", timestamp_ns, reason))

    def pad_restored(self, timestamp_ns: int) -> None:
        with self.lock:
            self.calls.append(("restored", timestamp_ns))

    def kinds(self) -> list[str]:
        with self.lock:
            return [c[0] for c in self.calls]

    def samples(self) -> list[PenSample]:
        with self.lock:
            return [c[1] for c in self.calls if c[0] == "sample"]


def line(x0: int, y0: int, n: int, dx: int = 20, pressure: int = 500) -> list[tuple[int, int, int]]:
    return [(x0 + i * dx, y0, pressure + i) for i in range(n)]


@pytest.fixture
def clock() -> SimClock:
    return SimClock(realtime=False)


def test_signing_gives_strokes_with_200hz_timestamps_on_the_clock(clock) -> None:
    with ReplaySignaturePad(INFO, [], clock) as pad:
        sig = Signature(pad.info)
        pad.start(sig)
        t0 = clock.monotonic_ns()
        pad.sign([line(100, 100, 10), line(100, 300, 8), line(500, 500, 1)], gap_s=0.2)
        assert pad.health == "ok"
    assert sig.stroke_count == 3
    assert [len(s) for s in sig.strokes] == [10, 8, 1]
    first = sig.strokes[0]
    assert first[0].timestamp_ns >= t0
    offsets = [s.timestamp_ns - first[0].timestamp_ns for s in first]
    assert offsets == [i * 5 * MS for i in range(10)]
    assert [s.pressure for s in first] == [500 + i for i in range(10)]
    # stroke 2 starts after stroke 1's 10 reports, its lift report and the 0.2 s gap
    assert sig.strokes[1][0].timestamp_ns - first[0].timestamp_ns == 10 * 5 * MS + 200 * MS
    assert sig.duration_ns == sig.strokes[2][-1].timestamp_ns - first[0].timestamp_ns
    stamps = [s.timestamp_ns for st in sig.strokes for s in st]
    assert stamps == sorted(stamps)


def test_sink_sees_samples_then_a_stroke_end_per_stroke(clock) -> None:
    calls = Calls()
    with ReplaySignaturePad(INFO, strokes_to_events([line(0, 0, 3), line(0, 50, 2)]), clock) as pad:
        pad.start(calls)
        pad.play([], wait=True)  # returns when what was queued before has played
    assert calls.kinds() == ["sample"] * 4 + ["end"] + ["sample"] * 3 + ["end"]
    assert [s.pen_down for s in calls.samples()] == [True, True, True, False, True, True, False]


def test_recording_round_trip(tmp_path: Path) -> None:
    events = strokes_to_events([line(10, 10, 5), line(10, 90, 4)])
    path = tmp_path / "rec.jsonl"
    save_events(path, INFO, events)
    info, loaded = load_events(path)
    assert info == INFO
    assert loaded == events
    assert '"code": "BTN_TOOL_PEN"' in path.read_text()


def test_bad_recordings_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"format": "something else"}\n')
    with pytest.raises(BadDriverArgument, match="bad.jsonl"):
        load_events(path)
    path.write_text('{"format": "dualrec.sigpad-events/1", "pad": {"name": "x"}}\n')
    with pytest.raises(BadDriverArgument, match="bad recording"):
        load_events(path)


def test_the_shipped_demo_signature_replays_into_a_signature(clock, tmp_path: Path) -> None:
    info, events = load_events(demo_recording())
    with open_signature_pad("sim", clock=clock) as pad:
        assert pad.info == info
        sig = Signature(pad.info)
        pad.start(sig)
        pad.play([], wait=True)
    assert sig.stroke_count == 11
    assert 3e9 < sig.duration_ns < 10e9
    assert sig.render_png(tmp_path / "demo.png").stat().st_size > 1000


def test_the_shipped_recording_is_what_the_generator_makes(tmp_path: Path) -> None:
    from drivers.sigpad.demo_signature import main

    assert main([str(tmp_path / "again.jsonl")]) == 0
    info, again = load_events(tmp_path / "again.jsonl")
    shipped_info, shipped = load_events(demo_recording())
    assert info == shipped_info and len(again) == len(shipped)
    for a, b in zip(again, shipped):  # the same up to libm rounding of the last unit
        assert a[:2] == b[:2] and a.timestamp_ns == b.timestamp_ns
        assert abs(a.value - b.value) <= 1


def test_a_sim_pad_plays_the_recording_it_is_given(clock, tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    save_events(path, INFO, strokes_to_events([line(0, 0, 4), line(0, 40, 4)]))
    with open_signature_pad("sim", clock=clock, recording=path) as pad:
        sig = Signature(pad.info)
        pad.start(sig)
        pad.play([], wait=True)
    assert sig.stroke_count == 2 and pad.info == INFO


def test_the_sink_may_stop_the_pad(clock) -> None:
    pad = ReplaySignaturePad(INFO, [], clock)

    class Stopper(Calls):
        def stroke_ended(self, timestamp_ns: int) -> None:
            super().stroke_ended(timestamp_ns)
            pad.stop()

    calls = Stopper()
    pad.start(calls)
    pad.sign([line(0, 0, 3), line(0, 50, 3)])
    assert calls.kinds().count("end") == 1
    assert pad.health == "stopped"
    pad.close()


def test_unplug_mid_signature_ends_the_stroke_and_reports_the_loss() -> None:
    clock = SimClock(realtime=True)
    calls = Calls()
    with ReplaySignaturePad(INFO, [], clock) as pad:
        pad.start(calls)
        long_stroke = line(0, 0, 200, dx=10)  # one second of pen on the pad
        pad.sign([long_stroke], wait=False)
        time.sleep(0.25)
        pad.unplug()
        assert pad.health == "lost"
        pad.sign([line(0, 100, 5)], wait=True)  # signed while unplugged: lost
        kinds = calls.kinds()
        assert kinds[-2:] == ["end", "lost"]
        assert "restored" not in kinds
        assert 10 < kinds.count("sample") < 200
        lost = calls.calls[-1]
        assert lost[2] == "unplugged (simulated)"
        assert lost[1] >= calls.calls[-2][1]
        pad.replug()
        assert pad.health == "ok"
        assert calls.kinds()[-1] == "restored"
        before = len(calls.samples())
        pad.sign([line(0, 200, 4)])
        assert len(calls.samples()) == before + 5  # 4 down + the lift


def test_a_failing_sink_is_reported_as_pad_lost(clock) -> None:
    class Failing(Calls):
        def pen_sample(self, sample: PenSample) -> None:
            raise RuntimeError("sink bug")

    calls = Failing()
    pad = ReplaySignaturePad(INFO, [], clock)
    pad.start(calls)
    pad.sign([line(0, 0, 3)])
    assert pad.health == "lost"
    assert calls.calls[-1][0] == "lost" and "sink bug" in calls.calls[-1][2]
    pad.close()


def test_lifecycle_start_twice_close_twice(clock) -> None:
    pad = ReplaySignaturePad(INFO, [], clock)
    assert pad.health == "stopped"
    pad.stop()  # not started: fine
    pad.start(Calls())
    with pytest.raises(DriverError, match="already started"):
        pad.start(Calls())
    pad.stop()
    assert pad.health == "stopped"
    pad.start(Calls())  # a stopped pad starts again
    pad.close()
    pad.close()
    with pytest.raises(DriverError, match="closed"):
        pad.start(Calls())


def test_sign_refuses_points_off_the_pad(clock) -> None:
    with ReplaySignaturePad(INFO, [], clock) as pad:
        with pytest.raises(BadDriverArgument, match="off the pad"):
            pad.sign([[(20000, 10, 100)]])
        with pytest.raises(BadDriverArgument, match="pressure"):
            pad.sign([[(10, 10, 5000)]])


def test_unknown_backend_and_missing_device_argument() -> None:
    with pytest.raises(BadDriverArgument, match="'usb'"):
        open_signature_pad("usb", clock=SimClock())
    with pytest.raises(BadDriverArgument, match="device"):
        open_signature_pad("evdev", clock=SimClock())
