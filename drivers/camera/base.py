"""The camera interface: encoded frames out to a sink, stills and analysis images on request.

Every timestamp here is CLOCK_MONOTONIC in nanoseconds, the one time base of the appliance
(``drivers.clock.Clock.monotonic_ns``). A frame's timestamp is when the sensor captured it
(picamera2: the request's ``SensorTimestamp``), not when it reached the sink.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import numpy as np

from drivers.errors import BadDriverArgument, DriverError

HEALTH_OK = "ok"
HEALTH_STOPPED = "stopped"
HEALTH_LOST = "lost"

#: Width in pixels of the images :meth:`Camera.analysis_frame` returns (height keeps the aspect).
ANALYSIS_WIDTH = 320


class CameraStateError(DriverError, RuntimeError):
    """A camera was asked for something its state does not allow (not started, closed)."""


@dataclass(frozen=True)
class EncodedFrame:
    """One encoded video frame.

    ``data`` is one H.264 Annex-B access unit; every keyframe carries its SPS and PPS in-band,
    so a segment that starts at a keyframe decodes on its own. ``timestamp_ns`` is the
    CLOCK_MONOTONIC time of the frame in nanoseconds. ``index`` is the frame's slot number since
    :meth:`Camera.start` (``timestamp_ns`` is about ``start + index / fps``): frames the sensor
    made but that were dropped, or slots that passed while the camera was lost, leave holes.
    """

    data: bytes
    keyframe: bool
    timestamp_ns: int
    index: int


class FrameSink(Protocol):
    """Where a camera delivers what it captures; called from the camera's own thread(s).

    Calls are serialised (never two at once) and in time order. ``frames_dropped`` reports a
    gap between two frames delivered in one unbroken run: ``count`` frames were missing
    between the frames at ``after_ns`` and ``before_ns``. A loss of the camera is reported by
    ``camera_lost`` / ``camera_restored`` alone, with no ``frames_dropped`` for the time between.
    A sink should return quickly; an exception it raises ends delivery and is reported as
    ``camera_lost``.
    """

    def outputframe(self, frame: EncodedFrame) -> None: ...

    def frames_dropped(self, after_ns: int, before_ns: int, count: int) -> None: ...

    def camera_lost(self, timestamp_ns: int, reason: str) -> None: ...

    def camera_restored(self, timestamp_ns: int) -> None: ...


class DiscardFrames:
    """A :class:`FrameSink` that keeps nothing: for a camera that is only looked through
    (photos, analysis images, badge reading) while its frames are not recorded."""

    def outputframe(self, frame: EncodedFrame) -> None:
        pass

    def frames_dropped(self, after_ns: int, before_ns: int, count: int) -> None:
        pass

    def camera_lost(self, timestamp_ns: int, reason: str) -> None:
        pass

    def camera_restored(self, timestamp_ns: int) -> None:
        pass


class Camera(abc.ABC):
    """A video camera with an H.264 encoder behind it.

    ``width`` x ``height`` pixels at ``fps`` frames per second; ``bitrate`` in bits per second.
    """

    width: int
    height: int
    fps: int
    bitrate: int

    def __init__(self, *, width: int, height: int, fps: int, bitrate: int) -> None:
        for name, value in (("width", width), ("height", height)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 16 or value % 2:
                raise BadDriverArgument(
                    f"camera {name}={value!r}: must be an even whole number of pixels, at least 16")
        if not isinstance(fps, int) or isinstance(fps, bool) or not 1 <= fps <= 120:
            raise BadDriverArgument(f"camera fps={fps!r}: must be a whole number from 1 to 120")
        if not isinstance(bitrate, int) or isinstance(bitrate, bool) or bitrate < 10_000:
            raise BadDriverArgument(
                f"camera bitrate={bitrate!r}: must be a whole number of bits per second, "
                "at least 10000")
        self.width = width
        self.height = height
        self.fps = fps
        self.bitrate = bitrate

    @property
    def frame_period_ns(self) -> float:
        """The nominal time between two frames, nanoseconds."""
        return 1e9 / self.fps

    @abc.abstractmethod
    def start(self, sink: FrameSink) -> None:
        """Begin delivering frames to ``sink`` from a thread of the camera's own."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop delivering; every frame encoded so far reaches the sink before this returns."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop and release the device. Safe to call twice."""

    @abc.abstractmethod
    def analysis_frame(self) -> tuple[np.ndarray, int] | None:
        """The latest frame as a small BGR image (:data:`ANALYSIS_WIDTH` px wide) and its
        CLOCK_MONOTONIC timestamp in ns, or None when there is none (not started, lost)."""

    @abc.abstractmethod
    def capture_jpeg(self) -> tuple[bytes, int]:
        """A full-resolution still as JPEG bytes and its CLOCK_MONOTONIC timestamp in ns.

        Raises :class:`CameraStateError` when not started, ``DeviceLostError`` when lost.
        """

    @property
    @abc.abstractmethod
    def health(self) -> str:
        """``"ok"`` (delivering), ``"stopped"`` (not started, stopped, closed) or ``"lost"``."""

    def __enter__(self) -> Camera:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
