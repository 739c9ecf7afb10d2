"""The picamera2 backend against the picamera2 test double (tests/doubles/picamera2), which
runs a simulated sensor in real time and encodes real H.264 with libx264."""
from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, Callable

import cv2
import numpy as np
import pytest

from drivers.camera import Camera, CameraStateError, open_camera
from drivers.clock import SystemClock
from drivers.errors import BadDriverArgument, DeviceLostError, DeviceMissingError

FPS = 30
PERIOD_NS = 1_000_000_000 / FPS


@pytest.fixture
def clock() -> SystemClock:
    return SystemClock()


@pytest.fixture
def open_csi(picamera2_double: ModuleType, clock: SystemClock) -> Callable[..., Camera]:
    """Opens cameras through the double and closes them after the test."""
    cameras: list[Camera] = []

    def opener(**options: Any) -> Camera:
        args = {"width": 320, "height": 240, "fps": FPS, "bitrate": 500_000,
                "stall_timeout_s": 1.0} | options
        camera = open_camera("picamera2", clock=clock, **args)
        cameras.append(camera)
        return camera

    yield opener
    for camera in cameras:
        camera.close()


def test_frames_carry_sensor_timestamps_on_clock_monotonic(open_csi: Callable[..., Camera],
                                                            clock: SystemClock, sink: Any,
                                                            h264: Any) -> None:
    camera = open_csi()
    before_ns = clock.monotonic_ns()
    camera.start(sink)
    assert camera.health == "ok"
    sink.wait_frames(FPS + 2)
    camera.stop()
    after_ns = clock.monotonic_ns()
    assert camera.health == "stopped"
    frames = sink.frames
    sensor_ns = camera.picamera2.sensor_timestamps  # what the double's sensor stamped
    assert len(frames) == len(sensor_ns)
    for frame, sensor in zip(frames, sensor_ns):
        # picamera2 hands outputs microseconds: the driver's ns keep microsecond resolution.
        assert abs(frame.timestamp_ns - sensor) < 1_000 and frame.timestamp_ns % 1_000 == 0
    stamps = [f.timestamp_ns for f in frames]
    assert before_ns <= stamps[0] and stamps[-1] <= after_ns
    assert all(b - a == pytest.approx(PERIOD_NS, abs=2_000) for a, b in zip(stamps, stamps[1:]))
    assert [f.index for f in frames] == list(range(len(frames)))
    assert [f.index for f in frames if f.keyframe] == list(range(0, len(frames), FPS))
    for frame in frames:
        if frame.keyframe:
            assert h264.nal_types(frame.data)[:2] == [7, 8]  # SPS and PPS in-band
    assert sink.of_kind("dropped") == sink.of_kind("lost") == []
    assert h264.decode_count(frames) == len(frames)


def test_frames_the_pipeline_drops_are_reported_as_a_gap(open_csi: Callable[..., Camera],
                                                         sink: Any, h264: Any) -> None:
    camera = open_csi()
    camera.start(sink)
    sink.wait_frames(5)
    camera.picamera2.drop_next_frames(2)
    sink.wait_for(lambda s: s.of_kind("dropped") and
                  s.frames[-1].timestamp_ns > s.of_kind("dropped")[0][2])
    camera.stop()
    [(_, after_ns, before_ns, count)] = sink.of_kind("dropped")
    assert count == 2
    dropped = camera.picamera2.dropped_timestamps
    assert len(dropped) == 2 and after_ns < dropped[0] < dropped[1] < before_ns
    assert before_ns - after_ns == pytest.approx(3 * PERIOD_NS, abs=2_000)
    frames = sink.frames
    at = next(i for i, f in enumerate(frames) if f.timestamp_ns == before_ns)
    assert frames[at].index == frames[at - 1].index + 3
    assert h264.decode_count(frames) == len(frames)


def test_a_stalled_camera_is_lost_then_restored_with_a_keyframe(
        open_csi: Callable[..., Camera], sink: Any, h264: Any) -> None:
    camera = open_csi(stall_timeout_s=0.5)
    camera.start(sink)
    sink.wait_frames(5)
    camera.picamera2.stall()
    sink.wait_for(lambda s: s.of_kind("lost"), timeout=5)
    [(_, lost_ns, reason)] = sink.of_kind("lost")
    assert "CSI camera" in reason and "no frame" in reason
    assert camera.health == "lost"
    assert camera.analysis_frame() is None
    with pytest.raises(DeviceLostError):
        camera.capture_jpeg()
    last_before = sink.frames[-1]
    camera.picamera2.resume()
    sink.wait_for(lambda s: s.of_kind("restored") and s.frames[-1] is not last_before)
    assert camera.health == "ok"
    camera.stop()
    kinds = [e[0] for e in sink.events]
    restored_at = kinds.index("restored")
    first_after = sink.events[restored_at + 1][1]
    assert sink.events[restored_at][1] == first_after.timestamp_ns
    assert last_before.timestamp_ns < lost_ns < first_after.timestamp_ns
    assert first_after.keyframe
    assert first_after.index - last_before.index == round(
        (first_after.timestamp_ns - last_before.timestamp_ns) / PERIOD_NS)
    assert sink.of_kind("dropped") == []
    assert h264.decode_count(sink.frames) == len(sink.frames)


def test_analysis_frame_and_still_from_the_lores_and_main_streams(
        open_csi: Callable[..., Camera], clock: SystemClock, sink: Any) -> None:
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    camera = open_csi(width=400, height=300)  # rows of 400 px are padded to 448 bytes
    camera.picamera2.show_image(cv2.resize(face, (400, 300)))
    assert camera.analysis_frame() is None  # not started
    camera.start(sink)
    sink.wait_frames(2)
    image, timestamp_ns = camera.analysis_frame()
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    assert timestamp_ns in camera.picamera2.sensor_timestamps
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    assert len(cascade.detectMultiScale(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 1.1, 5)) >= 1
    jpeg, still_ns = camera.capture_jpeg()
    still = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert still.shape == (300, 400, 3)
    assert np.abs(still.astype(int) - cv2.resize(face, (400, 300)).astype(int)).mean() < 8
    assert still_ns in camera.picamera2.sensor_timestamps
    assert still_ns <= clock.monotonic_ns()


def test_a_failing_sink_is_reported_not_raised_into_picamera2(
        open_csi: Callable[..., Camera], failing_sink: Callable[[int], Any]) -> None:
    sink = failing_sink(3)
    camera = open_csi()
    camera.start(sink)
    sink.wait_for(lambda s: s.of_kind("lost"))
    [(_, _, reason)] = sink.of_kind("lost")
    assert "disk full" in reason
    assert camera.health == "lost" and camera.failure == reason
    camera.stop()
    assert len(sink.frames) == 3


def test_picamera2_missing_names_the_device(monkeypatch: pytest.MonkeyPatch,
                                            clock: SystemClock) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import picamera2 now fails
    with pytest.raises(DeviceMissingError, match="CSI camera.*picamera2"):
        open_camera("picamera2", clock=clock, width=320, height=240, fps=30)


def test_no_camera_attached_names_the_device(picamera2_double: ModuleType,
                                             monkeypatch: pytest.MonkeyPatch,
                                             clock: SystemClock) -> None:
    monkeypatch.setattr(picamera2_double.Picamera2, "attached_cameras", [])
    with pytest.raises(DeviceMissingError, match="CSI camera 0: no camera found"):
        open_camera("picamera2", clock=clock, width=320, height=240, fps=30)


def test_fps_beyond_the_sensor_is_refused(open_csi: Callable[..., Camera], sink: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    camera = open_csi()
    monkeypatch.setitem(camera.picamera2.camera_controls, "FrameDurationLimits",
                        (50_000, 1_000_000, 50_000))  # a sensor mode that tops out at 20 fps
    with pytest.raises(BadDriverArgument, match="30 fps.*at most 20.0 fps"):
        camera.start(sink)
    assert camera.health == "stopped"


def test_close_twice_and_state_errors(open_csi: Callable[..., Camera], sink: Any) -> None:
    camera = open_csi()
    with pytest.raises(CameraStateError, match="not started"):
        camera.capture_jpeg()
    camera.start(sink)
    with pytest.raises(CameraStateError, match="already started"):
        camera.start(sink)
    camera.close()
    camera.close()
    assert not camera.picamera2.is_open
    with pytest.raises(CameraStateError, match="closed"):
        camera.start(sink)
