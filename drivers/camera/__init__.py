"""The camera: H.264 frames with sensor timestamps, stills, and small images for analysis.

Backends: ``"picamera2"`` (the CSI camera on a Raspberry Pi) and ``"sim"`` (a simulated
camera with test controls, whose rendering and encoding run in a sensor process of its own).
Choose one with :func:`open_camera`, by configuration.
"""
from __future__ import annotations

import inspect
from typing import Any

from drivers.camera.base import (ANALYSIS_WIDTH, HEALTH_LOST, HEALTH_OK, HEALTH_STOPPED,
                                 Camera, CameraStateError, DiscardFrames, EncodedFrame,
                                 FrameSink)
from drivers.camera.gaps import FrameGap, FrameGapDetector
from drivers.clock.base import Clock
from drivers.errors import BadDriverArgument

BACKENDS = ("sim", "picamera2")

__all__ = ["ANALYSIS_WIDTH", "BACKENDS", "HEALTH_LOST", "HEALTH_OK", "HEALTH_STOPPED", "Camera",
           "CameraStateError", "DiscardFrames", "EncodedFrame", "FrameGap", "FrameGapDetector",
           "FrameSink", "open_camera"]


def _backend_class(backend: str) -> type[Camera]:
    # Imported here so that choosing one backend never loads the other's libraries.
    if backend == "sim":
        from drivers.camera.sim import SimCamera
        return SimCamera
    if backend == "picamera2":
        from drivers.camera.picamera2_backend import Picamera2Camera
        return Picamera2Camera
    raise BadDriverArgument(
        f"camera backend {backend!r} is unknown; choose one of: {', '.join(BACKENDS)}")


def open_camera(backend: str, *, clock: Clock, width: int, height: int, fps: int,
                bitrate: int = 5_000_000, **backend_options: Any) -> Camera:
    """Open the camera ``backend`` (``"sim"`` or ``"picamera2"``).

    ``width`` x ``height`` pixels at ``fps`` frames per second, H.264 at ``bitrate`` bits per
    second. ``backend_options`` go to the backend's constructor (sim: ``scene``,
    ``sensor_timeout_s``; picamera2: ``camera_num``, ``stall_timeout_s``); an option the
    backend does not take raises :class:`BadDriverArgument` naming it. A real backend whose
    device is absent raises ``DeviceMissingError``.
    """
    cls = _backend_class(backend)
    accepted = {name for name, p in inspect.signature(cls.__init__).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(backend_options) - (accepted - {"clock", "width", "height", "fps",
                                                         "bitrate"}))
    if unknown:
        raise BadDriverArgument(
            f"camera backend {backend!r} takes no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(sorted(accepted)) or 'none'}")
    return cls(clock=clock, width=width, height=height, fps=fps, bitrate=bitrate,
               **backend_options)
