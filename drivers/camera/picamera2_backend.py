"""The Raspberry Pi CSI camera through picamera2: hardware H.264 with sensor timestamps.

picamera2 needs libcamera, which exists only on Raspberry Pi OS, so it is imported when a
:class:`Picamera2Camera` is made, never at import time.

Units, from picamera2's own code (``encoders/encoder.py``): an encoder takes each request's
``SensorTimestamp`` (CLOCK_MONOTONIC, ns), keeps ``int(ns / 1000)`` of its first frame in
``encoder.firsttimestamp`` and hands ``Output.outputframe`` the microseconds since that first
frame. So a frame's CLOCK_MONOTONIC time is ``(firsttimestamp + timestamp) * 1000`` ns, with
microsecond resolution. ``FrameDurationLimits`` is in microseconds per frame.

picamera2 gives no callback when the sensor stops (a loose cable shows as libcamera timeouts
and no more frames), so a watchdog thread reports ``camera_lost`` after ``stall_timeout_s``
without a frame, asks the encoder for a keyframe, and the next frame reports
``camera_restored``.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import numpy as np

from drivers.camera.base import (HEALTH_LOST, HEALTH_OK, HEALTH_STOPPED, Camera,
                                 CameraStateError, EncodedFrame, FrameSink)
from drivers.camera.gaps import FrameGapDetector
from drivers.camera.images import analysis_size, encode_jpeg, i420_to_bgr
from drivers.clock.base import Clock
from drivers.errors import BadDriverArgument, DeviceLostError, DeviceMissingError

OnEncoded = Callable[[bytes, bool, "int | None"], None]


def _sink_output_class(output_base: type) -> type:
    """A subclass of picamera2's ``Output`` (only importable at run time) that passes each
    encoded video frame to a callback: ``on_encoded(data, keyframe, timestamp_us)``."""

    class SinkOutput(output_base):  # type: ignore[misc, valid-type]
        def __init__(self, on_encoded: OnEncoded) -> None:
            super().__init__()
            self._on_encoded = on_encoded

        def outputframe(self, frame: Any, keyframe: bool = True, timestamp: int | None = None,
                        packet: Any = None, audio: bool = False) -> None:
            if audio or frame is None or not self.recording:
                return
            self._on_encoded(bytes(frame), bool(keyframe), timestamp)

    return SinkOutput


class _Run:
    """The state of one start() .. stop()."""

    def __init__(self, sink: FrameSink, encoder: Any, fps: int) -> None:
        self.sink = sink
        self.encoder = encoder
        self.detector = FrameGapDetector(fps)
        self.last_ns: int | None = None  # timestamp of the last frame delivered
        self.index = -1
        self.last_arrival = time.monotonic()  # real time, for the watchdog
        self.lost = False
        self.failure: str | None = None
        self.halt = threading.Event()
        self.watchdog: threading.Thread | None = None


class Picamera2Camera(Camera):
    """The CSI camera. ``camera_num`` picks one of several; ``stall_timeout_s`` is how long
    without a frame counts as a lost camera. Sink calls come from picamera2's encoder thread
    and the watchdog thread, serialised by one lock."""

    def __init__(self, *, clock: Clock, width: int = 1920, height: int = 1080, fps: int = 30,
                 bitrate: int = 5_000_000, camera_num: int = 0,
                 stall_timeout_s: float = 2.0) -> None:
        super().__init__(width=width, height=height, fps=fps, bitrate=bitrate)
        if not isinstance(stall_timeout_s, (int, float)) or not stall_timeout_s > 0:
            raise BadDriverArgument(f"stall_timeout_s={stall_timeout_s!r}: must be > 0 seconds")
        self._clock = clock
        self._stall_timeout_s = float(stall_timeout_s)
        self._capture_timeout_s = max(1.0, 10 / fps)
        self._lores_size = analysis_size(width, height)
        try:
            import picamera2
            from picamera2.encoders import H264Encoder
            from picamera2.outputs import Output
        except ImportError as exc:
            raise DeviceMissingError(
                f"CSI camera: the picamera2 library cannot be imported ({exc}); it comes with "
                "Raspberry Pi OS (apt install python3-picamera2)") from exc
        self._encoder_class = H264Encoder
        self._output_class = _sink_output_class(Output)
        try:
            self._picam = picamera2.Picamera2(camera_num)
        except IndexError as exc:
            raise DeviceMissingError(
                f"CSI camera {camera_num}: no camera found (check the ribbon cable and that "
                "the camera is enabled)") from exc
        except RuntimeError as exc:
            raise DeviceMissingError(f"CSI camera {camera_num}: cannot be opened: {exc}") from exc
        self._state = threading.Lock()
        self._delivery = threading.RLock()  # serialises sink calls; taken before _state
        self._run: _Run | None = None
        self._closed = False

    @property
    def picamera2(self) -> Any:
        """The underlying ``Picamera2`` object, for diagnostics and tuning controls."""
        return self._picam

    # -- the Camera interface ----------------------------------------------------------------
    def start(self, sink: FrameSink) -> None:
        with self._state:
            if self._closed:
                raise CameraStateError("CSI camera is closed; open a new one")
            if self._run is not None:
                raise CameraStateError("CSI camera is already started; stop() it first")
        period_us = round(1_000_000 / self.fps)
        config = self._picam.create_video_configuration(
            main={"size": (self.width, self.height), "format": "YUV420"},
            lores={"size": self._lores_size, "format": "YUV420"},
            controls={"FrameDurationLimits": (period_us, period_us)}, encode="main")
        try:
            self._picam.configure(config)
        except (RuntimeError, ValueError) as exc:
            raise BadDriverArgument(f"CSI camera cannot be configured for {self.width}x"
                                    f"{self.height} at {self.fps} fps: {exc}") from exc
        self._check_configuration(period_us)
        encoder = self._encoder_class(bitrate=self.bitrate, repeat=True, iperiod=self.fps,
                                      framerate=self.fps)
        run = _Run(sink, encoder, self.fps)
        with self._state:
            self._run = run
        try:
            self._picam.start_recording(encoder, self._output_class(self._on_encoded))
        except Exception as exc:
            with self._state:
                self._run = None
            raise DeviceMissingError(f"CSI camera: recording cannot start: {exc}") from exc
        with self._state:
            run.last_arrival = max(run.last_arrival, time.monotonic())  # starting took a while
        run.watchdog = threading.Thread(target=self._watch, args=(run,), name="camera-watchdog",
                                        daemon=True)
        run.watchdog.start()

    def stop(self) -> None:
        with self._state:
            run = self._run
        if run is None:
            return
        run.halt.set()
        if run.watchdog is not None:
            run.watchdog.join()
        try:
            self._picam.stop_recording()  # the encoder flushes its last frames to us here
        except Exception as exc:
            raise DeviceLostError(f"CSI camera: stop_recording failed: {exc}") from exc
        finally:
            with self._state:
                self._run = None

    def close(self) -> None:
        with self._state:
            if self._closed:
                return
        try:
            self.stop()
        finally:
            with self._state:
                self._closed = True
            self._picam.close()

    def analysis_frame(self) -> tuple[np.ndarray, int] | None:
        with self._state:
            run = self._run
            if run is None or run.lost or run.failure is not None:
                return None
        try:
            arrays, metadata = self._capture("lores")
        except TimeoutError:
            return None
        width, height = self._stream_size("lores")
        return i420_to_bgr(arrays[0], width, height), int(metadata["SensorTimestamp"])

    def capture_jpeg(self) -> tuple[bytes, int]:
        with self._state:
            run = self._run
            if run is None:
                raise CameraStateError("CSI camera is not started; start() it first")
            if run.lost or run.failure is not None:
                raise DeviceLostError(f"CSI camera is lost: {run.failure or 'no frames'}")
        try:
            arrays, metadata = self._capture("main")
        except TimeoutError as exc:
            raise DeviceLostError(f"CSI camera: no frame for a still within "
                                  f"{self._capture_timeout_s:.1f} s") from exc
        bgr = i420_to_bgr(arrays[0], self.width, self.height)
        return encode_jpeg(bgr), int(metadata["SensorTimestamp"])

    @property
    def health(self) -> str:
        with self._state:
            run = self._run
            if run is None:
                return HEALTH_STOPPED
            return HEALTH_LOST if run.lost or run.failure is not None else HEALTH_OK

    @property
    def failure(self) -> str | None:
        """Why delivery ended in this run (an error in the frame path), or None."""
        with self._state:
            return None if self._run is None else self._run.failure

    # -- internals -----------------------------------------------------------------------------
    def _check_configuration(self, period_us: int) -> None:
        main = self._stream_size("main")
        if main != (self.width, self.height):
            raise BadDriverArgument(f"CSI camera cannot deliver {self.width}x{self.height}; "
                                    f"it offers {main[0]}x{main[1]}")
        limits = self._picam.camera_controls.get("FrameDurationLimits")
        if limits and period_us < limits[0]:
            raise BadDriverArgument(f"CSI camera cannot deliver {self.fps} fps at {main[0]}x"
                                    f"{main[1]}; at most {1e6 / limits[0]:.1f} fps")

    def _stream_size(self, name: str) -> tuple[int, int]:
        width, height = self._picam.camera_configuration()[name]["size"]
        return int(width), int(height)

    def _capture(self, stream: str) -> tuple[list[np.ndarray], dict[str, Any]]:
        job = self._picam.capture_arrays([stream], wait=False)
        return self._picam.wait(job, timeout=self._capture_timeout_s)

    def _on_encoded(self, data: bytes, keyframe: bool, timestamp_us: int | None) -> None:
        """Called by picamera2's encoder thread for each encoded frame."""
        with self._delivery:
            with self._state:
                run = self._run
                if run is None or run.failure is not None:
                    return
                run.last_arrival = time.monotonic()
                restored, run.lost = run.lost, False
            try:
                first_us = run.encoder.firsttimestamp
                if timestamp_us is None or first_us is None:
                    raise DeviceLostError("CSI camera: the encoder gave a frame no timestamp")
                timestamp_ns = (first_us + timestamp_us) * 1000
                if restored:
                    run.detector.reset()
                    run.sink.camera_restored(timestamp_ns)
                gap = run.detector.feed(timestamp_ns)
                if run.last_ns is None:
                    run.index = 0
                else:
                    run.index += max(1, round((timestamp_ns - run.last_ns) / self.frame_period_ns))
                run.last_ns = timestamp_ns
                if gap is not None:
                    run.sink.frames_dropped(gap.after_ns, gap.before_ns, gap.missing)
                run.sink.outputframe(EncodedFrame(data, keyframe, timestamp_ns, run.index))
            except Exception as exc:  # never raise into picamera2's thread: report instead
                self._fail(run, f"CSI camera frame path failed: {type(exc).__name__}: {exc}")

    def _fail(self, run: _Run, reason: str) -> None:
        with self._state:
            run.failure = reason
        try:
            run.sink.camera_lost(self._clock.monotonic_ns(), reason)
        except Exception as exc:  # nowhere left to report to but the camera itself
            with self._state:
                run.failure = f"{reason}; then sink.camera_lost failed: {exc!r}"

    def _watch(self, run: _Run) -> None:
        poll_s = max(0.01, min(0.25, self._stall_timeout_s / 4))
        while not run.halt.wait(poll_s):
            with self._delivery:
                with self._state:
                    silent_s = time.monotonic() - run.last_arrival
                    if run.lost or run.failure is not None or silent_s < self._stall_timeout_s:
                        continue
                    run.lost = True
                try:
                    force_key_frame = getattr(run.encoder, "force_key_frame", None)
                    if force_key_frame is not None:
                        force_key_frame()  # so the first frame after the loss decodes alone
                    run.sink.camera_lost(self._clock.monotonic_ns(),
                                         f"CSI camera: no frame for {silent_s:.1f} s")
                except Exception as exc:
                    self._fail(run, f"CSI camera watchdog failed: {type(exc).__name__}: {exc}")
