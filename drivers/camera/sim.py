"""A simulated camera: test-pattern frames paced by the clock, encoded with libx264.

Frame ``i`` of a run is made at ``start + i / fps`` on the clock's CLOCK_MONOTONIC time base
(``clock.sleep_until_ns``), so with ``SimClock(realtime=False)`` a long session runs as fast
as encoding allows. It is an ideal sensor: a frame whose encoding runs late keeps its
timestamp and is delivered late, never lost. Frames are lost only when a test says so.

What a real unit does in hardware runs here in a process of its own, the camera's *sensor
process* (:mod:`drivers.camera.sensor_worker`): rendering the scene, encoding H.264, making
stills and analysis images. So the daemon holds none of OpenCV, PyAV, Pillow or the
photographs, and never imports them for the camera. This side keeps the clock, the frame
schedule, the test controls and the sink: for each slot it asks the sensor process for one
frame (its slot number and timestamp from this side's clock) and delivers what comes back.
A sensor process that dies, hangs (no answer within ``sensor_timeout_s``) or fails is the
camera lost (``sink.camera_lost``, :attr:`SimCamera.health` ``"lost"``, the reason in
:attr:`SimCamera.failure`); the next :meth:`SimCamera.start` starts a new one, showing what
the last one showed. The sensor process exits with the camera (:meth:`SimCamera.close`) and
with the process that owns it.

Test controls: :meth:`SimCamera.set_scene`, :meth:`SimCamera.show_image`,
:meth:`SimCamera.drop_frames`, :meth:`SimCamera.unplug`, :meth:`SimCamera.replug`,
:attr:`SimCamera.frames_made`, :attr:`SimCamera.frames_delivered`, :attr:`SimCamera.sensor_pid`.
"""
from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from drivers.camera.base import (HEALTH_LOST, HEALTH_OK, HEALTH_STOPPED, Camera,
                                 CameraStateError, EncodedFrame, FrameSink)
from drivers.camera.gaps import FrameGapDetector
from drivers.camera.sensor_process import EncodedUnit, SensorProcess
from drivers.camera.sensor_worker import SensorConfig
from drivers.clock.base import Clock
from drivers.errors import BadDriverArgument, DeviceLostError


class SimCamera(Camera):
    """A camera whose sensor and encoder are a :class:`SensorProcess`.

    Sink calls are serialised by one lock and come from the camera's worker thread, or from
    the thread calling :meth:`unplug` / :meth:`replug` (``camera_lost`` / ``camera_restored``).
    ``sensor_timeout_s`` is how long the sensor process may take to answer one request (real
    seconds) before it counts as hung.
    """

    def __init__(self, *, clock: Clock, width: int = 640, height: int = 480, fps: int = 30,
                 bitrate: int = 1_000_000, scene: str = "pattern",
                 sensor_timeout_s: float = 10.0) -> None:
        super().__init__(width=width, height=height, fps=fps, bitrate=bitrate)
        if isinstance(sensor_timeout_s, bool) or not isinstance(sensor_timeout_s, (int, float)) \
                or not 0 < sensor_timeout_s <= 3600:
            raise BadDriverArgument(f"sensor_timeout_s={sensor_timeout_s!r}: must be seconds, "
                                    "0 < s <= 3600")
        self._clock = clock
        self._sensor = SensorProcess(SensorConfig(width, height, fps, bitrate, os.getpid()),
                                     timeout_s=float(sensor_timeout_s))
        # start/stop/close and the sensor's (re)start and view; taken before the two below
        self._lifecycle = threading.RLock()
        # what the sensor shows, replayed to a new sensor process (None: the test pattern)
        self._view: tuple[str, Any] | None = None
        self._state = threading.Condition(threading.Lock())  # guards every field below
        self._delivery = threading.RLock()  # serialises sink calls; taken before _state
        self._scene = "pattern"
        self._thread: threading.Thread | None = None
        self._sink: FrameSink | None = None
        self._start_ns = 0
        self._stopping = False
        self._closed = False
        self._unplugged = False
        self._unplugs = 0  # frames made before the latest unplug are never delivered
        self._resync = False
        self._failure: str | None = None
        self._drop_remaining = 0
        self._force_keyframe = False
        self._latest_ns: int | None = None  # the sensor's latest frame, while it may be seen
        self._frames_made = 0
        self._frames_delivered = 0
        try:
            self.set_scene(scene)
        except BaseException:
            self._sensor.close()
            raise

    # -- the Camera interface ----------------------------------------------------------------
    def start(self, sink: FrameSink) -> None:
        with self._lifecycle:
            with self._state:
                if self._closed:
                    raise CameraStateError("simulated camera is closed; open a new one")
                if self._thread is not None:
                    raise CameraStateError("simulated camera is already started; stop() it first")
            self._ensure_sensor()
            self._sensor.start()
            with self._state:
                self._sink = sink
                self._stopping = self._unplugged = self._resync = self._force_keyframe = False
                self._failure = None
                self._drop_remaining = 0
                self._latest_ns = None
                self._frames_made = self._frames_delivered = 0
                self._start_ns = self._clock.monotonic_ns()
                self._thread = threading.Thread(target=self._run, args=(sink,),
                                                name="sim-camera", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._lifecycle:
            with self._state:
                thread = self._thread
                if thread is None:
                    return
                self._stopping = True
                self._state.notify_all()
            thread.join()
            with self._state:
                self._thread = None
                self._sink = None
                self._latest_ns = None

    def close(self) -> None:
        with self._lifecycle:
            self.stop()
            with self._state:
                self._closed = True
            self._sensor.close()

    def analysis_frame(self) -> tuple[np.ndarray, int] | None:
        with self._state:
            if not self._seeing():
                return None
        try:
            return self._sensor.analysis()
        except DeviceLostError:
            return None  # the worker thread finds the loss at its next frame and reports it

    def capture_jpeg(self) -> tuple[bytes, int]:
        with self._state:
            self._check_capturing()
            self._state.wait_for(lambda: self._latest_ns is not None or self._thread is None
                                 or self._failure is not None or self._unplugged, timeout=5.0)
            self._check_capturing()
            if self._latest_ns is None:
                raise DeviceLostError("simulated camera made no frame within 5 s")
        still = self._sensor.jpeg()
        if still is None:
            raise DeviceLostError("simulated camera: its sensor process has no frame")
        return still

    @property
    def health(self) -> str:
        with self._state:
            if self._thread is None:
                return HEALTH_STOPPED
            return HEALTH_LOST if self._failure is not None or self._unplugged else HEALTH_OK

    @property
    def failure(self) -> str | None:
        """Why the worker thread failed, or None."""
        with self._state:
            return self._failure

    # -- test controls -------------------------------------------------------------------------
    @property
    def scene(self) -> str:
        """The scene's name; ``"image"`` after :meth:`show_image`."""
        with self._state:
            return self._scene

    def set_scene(self, scene: str, **content: Any) -> None:
        """Show one of :data:`~drivers.camera.scenes.SCENES` from the next frame on, with its
        ``content`` if it takes any (``set_scene("id_card", card=IdCard(...))``)."""
        self._show(("scene", (scene, content)))

    def show_image(self, bgr: np.ndarray) -> None:
        """Show ``bgr`` (a BGR uint8 image of any size, fitted in) from the next frame on."""
        self._show(("image", bgr.copy() if isinstance(bgr, np.ndarray) else bgr))

    def drop_frames(self, n: int) -> None:
        """Make the next ``n`` frames but do not deliver them (their slots leave a gap)."""
        if not isinstance(n, int) or n < 0:
            raise BadDriverArgument(f"drop_frames n={n!r}: must be a whole number >= 0")
        with self._state:
            self._drop_remaining += n

    def unplug(self) -> None:
        """The cable comes out: ``sink.camera_lost`` now, no frames until :meth:`replug`."""
        with self._delivery:
            with self._state:
                if self._thread is None or self._stopping:
                    raise CameraStateError("unplug(): the simulated camera is not started")
                if self._unplugged:
                    return
                self._unplugged = True
                self._unplugs += 1
                self._latest_ns = None
                sink = self._sink
                now = self._clock.monotonic_ns()
            if sink is not None:
                sink.camera_lost(now, "simulated camera unplugged")

    def replug(self) -> None:
        """The cable goes back in: ``sink.camera_restored`` now; frames resume at the next
        slot of the frame grid, starting with a keyframe."""
        with self._delivery:
            with self._state:
                if not self._unplugged:
                    return
                self._unplugged = False
                self._resync = True
                self._force_keyframe = True
                sink = self._sink if self._thread is not None else None
                now = self._clock.monotonic_ns()
                self._state.notify_all()
            if sink is not None:
                sink.camera_restored(now)

    @property
    def frames_made(self) -> int:
        """Frames the simulated sensor made since :meth:`start` (delivered or dropped)."""
        with self._state:
            return self._frames_made

    @property
    def frames_delivered(self) -> int:
        """Frames that reached ``sink.outputframe`` since :meth:`start`."""
        with self._state:
            return self._frames_delivered

    @property
    def sensor_pid(self) -> int | None:
        """The process id of the sensor process while it runs (to measure or to kill it)."""
        return self._sensor.pid

    # -- the sensor process ----------------------------------------------------------------------
    def _show(self, view: tuple[str, Any]) -> None:
        with self._lifecycle:
            if self._closed:
                raise CameraStateError("simulated camera is closed; open a new one")
            self._ensure_sensor()
            name = self._apply(view)
            self._view = view
            with self._state:
                self._scene = name

    def _ensure_sensor(self) -> None:
        """A running sensor process showing :attr:`_view` (under ``_lifecycle``)."""
        if self._sensor.alive:
            return
        self._sensor.spawn()
        if self._view is not None:
            self._apply(self._view)

    def _apply(self, view: tuple[str, Any]) -> str:
        kind, what = view
        return self._sensor.show_image(what) if kind == "image" else \
            self._sensor.show_scene(*what)

    # -- the worker ----------------------------------------------------------------------------
    def _seeing(self) -> bool:
        """Whether the latest frame may be looked at (under ``_state``)."""
        return (self._thread is not None and self._latest_ns is not None
                and self._failure is None and not self._unplugged)

    def _check_capturing(self) -> None:
        if self._failure is not None:
            raise DeviceLostError(f"simulated camera failed: {self._failure}")
        if self._unplugged:
            raise DeviceLostError("simulated camera is unplugged")
        if self._thread is None:
            raise CameraStateError("simulated camera is not started; start() it first")

    def _due_ns(self, slot: int) -> int:
        return self._start_ns + slot * 1_000_000_000 // self.fps

    def _run(self, sink: FrameSink) -> None:
        try:
            self._produce(sink)
        except Exception as exc:  # reported to the owner through the sink, not lost
            reason = f"simulated camera worker failed: {type(exc).__name__}: {exc}"
            with self._state:
                self._failure = reason
                self._latest_ns = None
                self._state.notify_all()
            try:
                with self._delivery:
                    sink.camera_lost(self._clock.monotonic_ns(), reason)
            except Exception as sink_exc:  # nowhere left to report to but the camera itself
                with self._state:
                    self._failure = f"{reason}; then sink.camera_lost failed: {sink_exc!r}"

    def _produce(self, sink: FrameSink) -> None:
        detector = FrameGapDetector(self.fps)
        pending: dict[int, tuple[int, int]] = {}  # slot -> (timestamp, unplugs) in the encoder
        slot = 0
        while True:
            self._clock.sleep_until_ns(self._due_ns(slot))
            with self._state:
                while self._unplugged and not self._stopping:
                    self._state.wait()
                if self._stopping:
                    break
                if self._resync:  # back from unplug: the next slot not yet in the past
                    self._resync = False
                    detector.reset()
                    elapsed = self._clock.monotonic_ns() - self._start_ns
                    slot = max(slot, -(-elapsed * self.fps // 1_000_000_000))
                    continue
                timestamp_ns = self._due_ns(slot)
                unplugs = self._unplugs
                dropped = self._drop_remaining > 0
                if dropped:
                    self._drop_remaining -= 1
                    force_keyframe = False
                else:
                    force_keyframe, self._force_keyframe = self._force_keyframe, False
            units = self._sensor.frame(slot, timestamp_ns, encode=not dropped,
                                       keyframe=force_keyframe)
            with self._state:
                self._frames_made += 1
                if unplugs == self._unplugs and not self._unplugged:
                    self._latest_ns = timestamp_ns
                self._state.notify_all()
            if not dropped:
                pending[slot] = (timestamp_ns, unplugs)
            self._deliver(sink, units, pending, detector)
            slot += 1
        self._deliver(sink, self._sensor.flush(), pending, detector)

    def _deliver(self, sink: FrameSink, units: list[EncodedUnit],
                 pending: dict[int, tuple[int, int]], detector: FrameGapDetector) -> None:
        for data, keyframe, pts in units:
            timestamp_ns, unplugs = pending.pop(pts)
            with self._delivery:
                with self._state:
                    if self._unplugged or unplugs != self._unplugs:
                        continue  # made just as the cable came out: never seen
                    self._frames_delivered += 1
                gap = detector.feed(timestamp_ns)
                if gap is not None:
                    sink.frames_dropped(gap.after_ns, gap.before_ns, gap.missing)
                sink.outputframe(EncodedFrame(data, keyframe, timestamp_ns, pts))
