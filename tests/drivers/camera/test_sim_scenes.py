"""What the simulated camera shows, read back the way the firmware reads it: OpenCV's face
detector, brightness, a QR decoder, and JPEG stills."""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from drivers.camera import open_camera
from drivers.camera.sim import SimCamera
from drivers.clock import SimClock
from drivers.errors import BadDriverArgument


def faces(bgr: np.ndarray) -> list:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    assert not cascade.empty()
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return list(cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5))


def analysed(camera: SimCamera, sink: Any) -> tuple[np.ndarray, int]:
    """The analysis image of a frame made after now (so a scene change has taken effect)."""
    sink.wait_frames(len(sink.frames) + 2)
    result = camera.analysis_frame()
    assert result is not None
    return result


@pytest.fixture
def camera(sim_clock: SimClock, sink: Any) -> Any:
    with open_camera("sim", clock=sim_clock, width=320, height=240, fps=30) as cam:
        cam.start(sink)
        yield cam


@pytest.mark.parametrize("size, expected", [((320, 240), (240, 320, 3)),
                                            ((1280, 720), (180, 320, 3))])
def test_analysis_frame_is_small_bgr_with_its_timestamp(sim_clock: SimClock, sink: Any,
                                                        size: tuple[int, int],
                                                        expected: tuple[int, int, int]) -> None:
    with open_camera("sim", clock=sim_clock, width=size[0], height=size[1], fps=30,
                     scene="face") as camera:
        camera.start(sink)
        image, timestamp_ns = analysed(camera, sink)
        assert image.shape == expected and image.dtype == np.uint8
        start_ns = sink.frames[0].timestamp_ns  # frames are made at start + i / fps
        index = round((timestamp_ns - start_ns) * 30 / 1e9)
        assert index >= 0 and timestamp_ns == start_ns + index * 1_000_000_000 // 30
        assert timestamp_ns <= sim_clock.monotonic_ns()
        assert len(faces(image)) >= 1


def test_face_scene_has_a_face_and_pattern_has_none(camera: Any, sink: Any) -> None:
    camera.set_scene("face")
    image, _ = analysed(camera, sink)
    assert len(faces(image)) >= 1
    camera.set_scene("pattern")
    image, _ = analysed(camera, sink)
    assert faces(image) == []
    assert camera.scene == "pattern"


@pytest.mark.parametrize("scene, low, high", [("pattern", 80, 255), ("face", 60, 255),
                                              ("dark", 0, 30), ("covered", 0, 8)])
def test_scene_brightness(camera: Any, sink: Any, scene: str, low: float, high: float) -> None:
    camera.set_scene(scene)
    image, _ = analysed(camera, sink)
    assert low <= cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).mean() <= high


def test_a_qr_badge_held_to_the_camera_can_be_read(camera: Any, sink: Any) -> None:
    code = cv2.QRCodeEncoder.create().encode("STAFF:0042")
    badge = cv2.cvtColor(cv2.resize(code, None, fx=8, fy=8, interpolation=cv2.INTER_NEAREST),
                         cv2.COLOR_GRAY2BGR)
    badge = cv2.copyMakeBorder(badge, 32, 32, 32, 32, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    camera.show_image(badge)
    image, _ = analysed(camera, sink)
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert text == "STAFF:0042"
    assert camera.scene == "image"


def test_show_image_refuses_what_is_not_a_bgr_image(camera: Any) -> None:
    with pytest.raises(BadDriverArgument, match="BGR"):
        camera.show_image(np.zeros((10, 10), np.uint8))


def test_capture_jpeg_is_a_full_resolution_still(sim_clock: SimClock, sink: Any) -> None:
    with open_camera("sim", clock=sim_clock, width=640, height=480, fps=30,
                     scene="face") as camera:
        camera.start(sink)
        sink.wait_frames(3)
        jpeg, timestamp_ns = camera.capture_jpeg()
        camera.stop()
    assert jpeg[:2] == b"\xff\xd8"
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)
    assert timestamp_ns in {f.timestamp_ns for f in sink.frames}
    assert len(faces(image)) >= 1
