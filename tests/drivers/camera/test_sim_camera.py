"""The simulated camera: frames, timestamps, keyframes, drops, unplugging, failures."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from drivers.camera import CameraStateError, open_camera
from drivers.camera.sim import SimCamera
from drivers.clock import SimClock
from drivers.errors import DeviceLostError

FPS = 30
PERIOD_NS = 1_000_000_000 / FPS


def sim_camera(clock: SimClock, **options: Any) -> SimCamera:
    camera = open_camera("sim", clock=clock, width=320, height=240, fps=FPS, **options)
    assert isinstance(camera, SimCamera)
    return camera


def test_every_frame_made_is_delivered_on_the_clock(sim_clock: SimClock, sink: Any,
                                                    h264: Any) -> None:
    start_ns = sim_clock.monotonic_ns()
    with sim_camera(sim_clock) as camera:
        camera.start(sink)
        assert camera.health == "ok"
        sink.wait_frames(95)
        camera.stop()
        assert camera.health == "stopped"
        frames = sink.frames
        assert len(frames) == camera.frames_made == camera.frames_delivered >= 95
    assert [f.index for f in frames] == list(range(len(frames)))
    assert [f.timestamp_ns for f in frames] == [start_ns + i * 1_000_000_000 // FPS
                                                for i in range(len(frames))]
    assert sink.of_kind("dropped") == sink.of_kind("lost") == []
    assert h264.decode_count(frames) == len(frames)


def test_a_keyframe_with_sps_and_pps_every_second(sim_clock: SimClock, sink: Any,
                                                  h264: Any) -> None:
    with sim_camera(sim_clock) as camera:
        camera.start(sink)
        sink.wait_frames(3 * FPS + 1)
    frames = sink.frames
    assert [f.index for f in frames if f.keyframe] == list(range(0, len(frames), FPS))
    for frame in frames:
        types = h264.nal_types(frame.data)
        if frame.keyframe:
            assert types[:2] == [7, 8] and 5 in types, types  # SPS, PPS, then an IDR slice
        else:
            assert 5 not in types and 7 not in types, types


def test_dropped_frames_leave_one_reported_gap(sim_clock: SimClock, sink: Any,
                                               h264: Any) -> None:
    with sim_camera(sim_clock) as camera:
        camera.start(sink)
        sink.wait_frames(10)
        camera.drop_frames(3)
        sink.wait_for(lambda s: len(s.of_kind("dropped")) == 1 and
                      s.frames[-1].timestamp_ns > s.of_kind("dropped")[0][2])
        camera.stop()
        made, delivered = camera.frames_made, camera.frames_delivered
    frames = sink.frames
    assert made == delivered + 3 == len(frames) + 3
    [(_, after_ns, before_ns, count)] = sink.of_kind("dropped")
    assert count == 3
    assert before_ns - after_ns == pytest.approx(4 * PERIOD_NS, abs=1)
    at = next(i for i, f in enumerate(frames) if f.timestamp_ns == before_ns)
    assert frames[at - 1].timestamp_ns == after_ns
    assert frames[at].index == frames[at - 1].index + 4
    # The gap is reported before the frame that ends it.
    kinds = [(e[0], e[1].timestamp_ns if e[0] == "frame" else e[2]) for e in sink.events]
    assert kinds.index(("dropped", before_ns)) == kinds.index(("frame", before_ns)) - 1
    assert h264.decode_count(frames) == len(frames)


def test_unplug_and_replug_are_reported_and_frames_resume_with_a_keyframe(
        sim_clock: SimClock, sink: Any, h264: Any) -> None:
    with sim_camera(sim_clock) as camera:
        camera.start(sink)
        sink.wait_frames(10)
        camera.unplug()
        assert camera.health == "lost"
        assert camera.analysis_frame() is None
        with pytest.raises(DeviceLostError, match="unplugged"):
            camera.capture_jpeg()
        delivered = camera.frames_delivered
        sim_clock.advance(2.0)  # two seconds pass with the cable out
        assert camera.frames_delivered == delivered
        camera.replug()
        sink.wait_for(lambda s: len(s.of_kind("restored")) == 1)
        sink.wait_frames(delivered + 5)
        assert camera.health == "ok"
    kinds = [e[0] for e in sink.events]
    lost_at, restored_at = kinds.index("lost"), kinds.index("restored")
    assert kinds[lost_at + 1:restored_at] == []
    before, after = sink.events[lost_at - 1][1], sink.events[restored_at + 1][1]
    (_, lost_ns, reason), (_, restored_ns) = sink.events[lost_at], sink.events[restored_at]
    assert "unplugged" in reason
    assert before.timestamp_ns <= lost_ns < restored_ns <= after.timestamp_ns
    assert restored_ns - lost_ns >= 2_000_000_000
    assert after.keyframe
    assert after.index - before.index >= 2 * FPS  # the slots that passed unplugged
    assert sink.of_kind("dropped") == []
    assert h264.decode_count(sink.frames) == len(sink.frames)


def test_a_failing_worker_reports_camera_lost(sim_clock: SimClock,
                                              failing_sink: Callable[[int], Any]) -> None:
    sink = failing_sink(5)
    with sim_camera(sim_clock) as camera:
        camera.start(sink)
        sink.wait_for(lambda s: s.of_kind("lost"))
        [(_, _, reason)] = sink.of_kind("lost")
        assert "OSError" in reason and "disk full" in reason
        assert camera.health == "lost"
        assert camera.failure == reason
        camera.stop()
        assert camera.health == "stopped"
    assert len(sink.frames) == 5


def test_restart_after_stop_counts_from_zero(sim_clock: SimClock, sink: Any) -> None:
    with sim_camera(sim_clock) as camera:
        camera.start(sink)
        sink.wait_frames(5)
        camera.stop()
        first_run = len(sink.frames)
        camera.start(sink)
        sink.wait_frames(first_run + 5)
    second = sink.frames[first_run:]
    assert second[0].index == 0 and second[0].keyframe
    assert second[0].timestamp_ns > sink.frames[first_run - 1].timestamp_ns


def test_state_errors(sim_clock: SimClock, sink: Any) -> None:
    camera = sim_camera(sim_clock)
    with pytest.raises(CameraStateError, match="not started"):
        camera.capture_jpeg()
    with pytest.raises(CameraStateError, match="not started"):
        camera.unplug()
    assert camera.analysis_frame() is None
    camera.start(sink)
    with pytest.raises(CameraStateError, match="already started"):
        camera.start(sink)
    camera.close()
    camera.close()  # safe twice
    camera.stop()
    with pytest.raises(CameraStateError, match="closed"):
        camera.start(sink)
    assert camera.health == "stopped"


def test_on_a_realtime_clock_frames_come_at_the_frame_rate(sink: Any) -> None:
    clock = SimClock(realtime=True)
    with sim_camera(clock) as camera:
        start_ns = clock.monotonic_ns()
        camera.start(sink)
        sink.wait_frames(6)
        assert clock.monotonic_ns() - start_ns >= 5 * PERIOD_NS
    stamps = [f.timestamp_ns for f in sink.frames]
    assert stamps[0] >= start_ns
    assert all(b - a == pytest.approx(PERIOD_NS, abs=1) for a, b in zip(stamps, stamps[1:]))
