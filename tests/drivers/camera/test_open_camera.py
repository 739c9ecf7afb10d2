"""open_camera: backends chosen by name, arguments checked and named."""
from __future__ import annotations

import pytest

from drivers.camera import Camera, open_camera
from drivers.clock import SimClock
from drivers.errors import BadDriverArgument


def test_sim_backend_opens(sim_clock: SimClock) -> None:
    with open_camera("sim", clock=sim_clock, width=320, height=240, fps=15) as camera:
        assert isinstance(camera, Camera)
        assert (camera.width, camera.height, camera.fps) == (320, 240, 15)
        assert camera.health == "stopped"


def test_unknown_backend_is_named(sim_clock: SimClock) -> None:
    with pytest.raises(BadDriverArgument, match="'usbcam'.*sim, picamera2"):
        open_camera("usbcam", clock=sim_clock, width=320, height=240, fps=30)


def test_unknown_option_is_named(sim_clock: SimClock) -> None:
    with pytest.raises(BadDriverArgument, match="'exposure'"):
        open_camera("sim", clock=sim_clock, width=320, height=240, fps=30, exposure=5)


@pytest.mark.parametrize("args, name", [
    ({"width": 321, "height": 240, "fps": 30}, "width"),
    ({"width": 320, "height": 0, "fps": 30}, "height"),
    ({"width": 320, "height": 240, "fps": 0}, "fps"),
    ({"width": 320, "height": 240, "fps": 30, "bitrate": 5}, "bitrate"),
])
def test_bad_arguments_are_named(sim_clock: SimClock, args: dict, name: str) -> None:
    with pytest.raises(BadDriverArgument, match=name):
        open_camera("sim", clock=sim_clock, **args)


def test_bad_scene_is_named(sim_clock: SimClock) -> None:
    with pytest.raises(BadDriverArgument, match="'beach'"):
        open_camera("sim", clock=sim_clock, width=320, height=240, fps=30, scene="beach")
