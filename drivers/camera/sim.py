"""A simulated camera: test-pattern frames paced by the clock, encoded with libx264.

Frame ``i`` of a run is made at ``start + i / fps`` on the clock's CLOCK_MONOTONIC time base
(``clock.sleep_until_ns``), so with ``SimClock(realtime=False)`` a long session runs as fast
as encoding allows. It is an ideal sensor: a frame whose encoding runs late keeps its
timestamp and is delivered late, never lost. Frames are lost only when a test says so.

Test controls: :meth:`SimCamera.set_scene`, :meth:`SimCamera.show_image`,
:meth:`SimCamera.drop_frames`, :meth:`SimCamera.unplug`, :meth:`SimCamera.replug`,
:attr:`SimCamera.frames_made`, :attr:`SimCamera.frames_delivered`.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from drivers.camera.base import (HEALTH_LOST, HEALTH_OK, HEALTH_STOPPED, Camera,
                                 CameraStateError, EncodedFrame, FrameSink)
from drivers.camera.gaps import FrameGapDetector
from drivers.camera.images import analysis_image, encode_jpeg
from drivers.camera.scenes import SceneRenderer
from drivers.camera.x264 import H264Packet, X264Encoder
from drivers.clock.base import Clock
from drivers.errors import BadDriverArgument, DeviceLostError


class SimCamera(Camera):
    """A camera made of a :class:`SceneRenderer` and an :class:`X264Encoder`.

    Sink calls are serialised by one lock and come from the camera's worker thread, or from
    the thread calling :meth:`unplug` / :meth:`replug` (``camera_lost`` / ``camera_restored``).
    """

    def __init__(self, *, clock: Clock, width: int = 640, height: int = 480, fps: int = 30,
                 bitrate: int = 1_000_000, scene: str = "pattern") -> None:
        super().__init__(width=width, height=height, fps=fps, bitrate=bitrate)
        self._clock = clock
        self._renderer = SceneRenderer(width, height, scene)
        self._state = threading.Condition(threading.Lock())  # guards every field below
        self._delivery = threading.RLock()  # serialises sink calls; taken before _state
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
        self._latest: tuple[np.ndarray, int] | None = None
        self._frames_made = 0
        self._frames_delivered = 0

    # -- the Camera interface ----------------------------------------------------------------
    def start(self, sink: FrameSink) -> None:
        with self._state:
            if self._closed:
                raise CameraStateError("simulated camera is closed; open a new one")
            if self._thread is not None:
                raise CameraStateError("simulated camera is already started; stop() it first")
            encoder = X264Encoder(self.width, self.height, self.fps, self.bitrate)
            self._sink = sink
            self._stopping = self._unplugged = self._resync = self._force_keyframe = False
            self._failure = None
            self._drop_remaining = 0
            self._latest = None
            self._frames_made = self._frames_delivered = 0
            self._start_ns = self._clock.monotonic_ns()
            self._thread = threading.Thread(target=self._run, args=(sink, encoder),
                                            name="sim-camera", daemon=True)
            self._thread.start()

    def stop(self) -> None:
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
            self._latest = None

    def close(self) -> None:
        self.stop()
        with self._state:
            self._closed = True

    def analysis_frame(self) -> tuple[np.ndarray, int] | None:
        with self._state:
            latest = self._latest
        if latest is None:
            return None
        bgr, timestamp_ns = latest
        return analysis_image(bgr), timestamp_ns

    def capture_jpeg(self) -> tuple[bytes, int]:
        with self._state:
            self._check_capturing()
            self._state.wait_for(lambda: self._latest is not None or self._thread is None
                                 or self._failure is not None or self._unplugged, timeout=5.0)
            self._check_capturing()
            if self._latest is None:
                raise DeviceLostError("simulated camera made no frame within 5 s")
            bgr, timestamp_ns = self._latest
        return encode_jpeg(bgr), timestamp_ns

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
        return self._renderer.scene

    def set_scene(self, scene: str, **content: Any) -> None:
        """Show one of :data:`~drivers.camera.scenes.SCENES` from the next frame on, with its
        ``content`` if it takes any (``set_scene("id_card", card=IdCard(...))``)."""
        with self._state:
            self._renderer.set_scene(scene, **content)

    def show_image(self, bgr: np.ndarray) -> None:
        """Show ``bgr`` (a BGR uint8 image of any size, fitted in) from the next frame on."""
        with self._state:
            self._renderer.show_image(bgr)

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
                self._latest = None
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

    # -- the worker ----------------------------------------------------------------------------
    def _check_capturing(self) -> None:
        if self._failure is not None:
            raise DeviceLostError(f"simulated camera failed: {self._failure}")
        if self._unplugged:
            raise DeviceLostError("simulated camera is unplugged")
        if self._thread is None:
            raise CameraStateError("simulated camera is not started; start() it first")

    def _due_ns(self, slot: int) -> int:
        return self._start_ns + slot * 1_000_000_000 // self.fps

    def _run(self, sink: FrameSink, encoder: X264Encoder) -> None:
        try:
            self._produce(sink, encoder)
        except Exception as exc:  # reported to the owner through the sink, not lost
            reason = f"simulated camera worker failed: {type(exc).__name__}: {exc}"
            with self._state:
                self._failure = reason
                self._latest = None
                self._state.notify_all()
            try:
                with self._delivery:
                    sink.camera_lost(self._clock.monotonic_ns(), reason)
            except Exception as sink_exc:  # nowhere left to report to but the camera itself
                with self._state:
                    self._failure = f"{reason}; then sink.camera_lost failed: {sink_exc!r}"

    def _produce(self, sink: FrameSink, encoder: X264Encoder) -> None:
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
                bgr = self._renderer.render(timestamp_ns, slot)
                self._latest = (bgr, timestamp_ns)
                self._frames_made += 1
                unplugs = self._unplugs
                self._state.notify_all()
                dropped = self._drop_remaining > 0
                if dropped:
                    self._drop_remaining -= 1
                    force_keyframe = False
                else:
                    force_keyframe, self._force_keyframe = self._force_keyframe, False
            if not dropped:
                pending[slot] = (timestamp_ns, unplugs)
                self._deliver(sink, encoder.encode(bgr, slot, force_keyframe), pending, detector)
            slot += 1
        self._deliver(sink, encoder.flush(), pending, detector)

    def _deliver(self, sink: FrameSink, packets: list[H264Packet],
                 pending: dict[int, tuple[int, int]], detector: FrameGapDetector) -> None:
        for packet in packets:
            timestamp_ns, unplugs = pending.pop(packet.pts)
            with self._delivery:
                with self._state:
                    if self._unplugged or unplugs != self._unplugs:
                        continue  # made just as the cable came out: never seen
                    self._frames_delivered += 1
                gap = detector.feed(timestamp_ns)
                if gap is not None:
                    sink.frames_dropped(gap.after_ns, gap.before_ns, gap.missing)
                sink.outputframe(EncodedFrame(packet.data, packet.keyframe, timestamp_ns,
                                              packet.pts))
