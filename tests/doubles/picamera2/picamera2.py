"""Test double of ``picamera2.Picamera2``: the API shape the camera driver uses, with a
simulated sensor behind it.

The sensor makes a frame every ``FrameDurationLimits`` microseconds of real time; each frame's
``SensorTimestamp`` is its CLOCK_MONOTONIC time in nanoseconds (an ideal sensor: a frame that
comes late still carries its own time). As in picamera2, completed requests go to the running
encoders and to pending capture jobs; a frame that fails is released and never seen.

Test controls: ``attached_cameras`` (empty it to have no camera), ``drop_next_frames(n)``,
``stall()`` / ``resume()`` (the sensor stops sending frames, as after a frontend timeout),
``show_image(bgr)``, and the record ``sensor_timestamps`` / ``dropped_timestamps``.
"""
from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any, Callable, ClassVar

import cv2
import numpy as np

from .encoders import Encoder, Quality
from .outputs import Output
from .request import CompletedRequest

_FORMATS = ("YUV420", "RGB888", "BGR888", "XRGB8888", "XBGR8888")
_MIN_FRAME_DURATION_US = 8_333  # the simulated sensor does at most 120 fps


class Job:
    """A capture that the camera's thread completes with the next good frame."""

    def __init__(self, function: Callable[[CompletedRequest], Any]) -> None:
        self._function = function
        self._future: concurrent.futures.Future = concurrent.futures.Future()

    def execute(self, request: CompletedRequest) -> None:
        try:
            self._future.set_result(self._function(request))
        except Exception as exc:
            self._future.set_exception(exc)

    def get_result(self, timeout: float | None = None) -> Any:
        return self._future.result(timeout=timeout)


class Picamera2:
    attached_cameras: ClassVar[list[dict[str, Any]]] = [
        {"Model": "imx708", "Location": 2, "Rotation": 180,
         "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a", "Num": 0}]

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        return [dict(info) for info in Picamera2.attached_cameras]

    def __init__(self, camera_num: int = 0, verbose_console: Any = None, tuning: Any = None,
                 allocator: Any = None) -> None:
        self.camera_idx = self.global_camera_info()[camera_num]["Num"]  # IndexError: no camera
        self.is_open = True
        self.camera_controls = {"FrameDurationLimits": (_MIN_FRAME_DURATION_US, 1_000_000, 33_333),
                                "ExposureTime": (100, 1_000_000, 20_000),
                                "NoiseReductionMode": (0, 4, 0)}
        self.camera_config: dict[str, Any] | None = None
        self.frame_duration_us = 33_333
        self.encoders: set[Encoder] = set()
        self.started = False
        self.sensor_timestamps: list[int] = []
        self.dropped_timestamps: list[int] = []
        self._lock = threading.Lock()
        self._jobs: list[Job] = []
        self._drop = 0
        self._stalled = False
        self._image: np.ndarray | None = None
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------------------------
    def create_video_configuration(self, main: dict | None = None, lores: dict | None = None,
                                   raw: dict | None = None, transform: Any = None,
                                   colour_space: Any = None, buffer_count: int = 6,
                                   controls: dict | None = None, display: str | None = "main",
                                   encode: str | None = "main", queue: bool = True,
                                   sensor: dict | None = None,
                                   use_case: str = "video") -> dict[str, Any]:
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        main = {"format": "XBGR8888", "size": (1280, 720)} | (main or {})
        main["size"] = (main["size"][0] - main["size"][0] % 2, main["size"][1] - main["size"][1] % 2)
        if lores is not None:
            lores = {"format": "YUV420", "size": main["size"]} | lores
        controls = {"NoiseReductionMode": 1, "FrameDurationLimits": (33_333, 33_333)} | (controls or {})
        return {"use_case": use_case, "buffer_count": buffer_count, "queue": queue,
                "main": main, "lores": lores, "raw": raw, "controls": controls,
                "display": display, "encode": encode}

    def configure(self, config: dict[str, Any]) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
        for name in ("main", "lores"):
            stream = config.get(name)
            if stream is None:
                continue
            if stream.get("format") not in _FORMATS:
                raise RuntimeError(f"Bad format {stream.get('format')} in stream {name}")
            width, height = stream["size"]
            if width % 2 or height % 2:
                raise RuntimeError("width and height should be even")
            bytes_pp = {"YUV420": 1, "RGB888": 3, "BGR888": 3}.get(stream["format"], 4)
            stream["stride"] = -(-width * bytes_pp // 64) * 64  # rows padded to 64 bytes
            stream["framesize"] = stream["stride"] * (height * 3 // 2 if bytes_pp == 1 else height)
        lores, main = config.get("lores"), config["main"]
        if lores is not None:
            if lores["size"][0] > main["size"][0] or lores["size"][1] > main["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if lores["format"] != "YUV420":
                raise RuntimeError("lores stream must be YUV")
        duration = config["controls"].get("FrameDurationLimits", (33_333, 33_333))[0]
        self.frame_duration_us = max(int(duration), _MIN_FRAME_DURATION_US)
        self.camera_config = config

    def camera_configuration(self) -> dict[str, Any] | None:
        return self.camera_config

    # -- running -------------------------------------------------------------------------------
    def start(self) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        if self.started:
            return
        self._halt.clear()
        self._thread = threading.Thread(target=self._sensor, name="picamera2-double", daemon=True)
        self.started = True
        self._thread.start()

    def stop(self) -> None:
        if not self.started:
            return
        self._halt.set()
        assert self._thread is not None
        self._thread.join()
        self.started = False

    def start_recording(self, encoder: Encoder, output: Output, pts: Any = None,
                        config: Any = None, quality: Quality | None = None,
                        name: str | None = None) -> None:
        if config is not None or self.camera_config is None:
            self.configure(config if isinstance(config, dict) else self.create_video_configuration())
        assert self.camera_config is not None
        encoder.output = output
        name = name or self.camera_config["encode"]
        stream = self.camera_config[name]
        encoder.name = name
        encoder.width, encoder.height = stream["size"]
        encoder.format = stream["format"]
        encoder.stride = stream["stride"]
        if getattr(encoder, "framerate", None) is None:
            encoder.framerate = 1_000_000 / self.frame_duration_us
        encoder.start(quality=quality)
        with self._lock:
            self.encoders.add(encoder)
        self.start()

    def stop_recording(self) -> None:
        self.stop()
        with self._lock:
            encoders, self.encoders = self.encoders, set()
        for encoder in encoders:
            encoder.stop()

    def close(self) -> None:
        if not self.is_open:
            return
        self.stop_recording()
        self.is_open = False
        self.camera_config = None

    # -- captures ------------------------------------------------------------------------------
    def _dispatch(self, function: Callable[[CompletedRequest], Any], wait: Any,
                  signal_function: Any) -> Any:
        job = Job(function)
        with self._lock:
            self._jobs.append(job)
        if wait is None:
            wait = signal_function is None
        if wait is False:
            return job
        return job.get_result(timeout=None if wait is True else wait)

    def capture_array(self, name: str = "main", wait: Any = None,
                      signal_function: Any = None) -> Any:
        return self._dispatch(lambda r: r.make_array(name), wait, signal_function)

    def capture_arrays(self, names: list[str] | None = None, wait: Any = None,
                       signal_function: Any = None) -> Any:
        names = names or ["main"]
        return self._dispatch(lambda r: ([r.make_array(n) for n in names], r.get_metadata()),
                              wait, signal_function)

    def capture_metadata(self, wait: Any = None, signal_function: Any = None) -> Any:
        return self._dispatch(lambda r: r.get_metadata(), wait, signal_function)

    def wait(self, job: Job, timeout: float | None = None) -> Any:
        return job.get_result(timeout=timeout)

    # -- test controls -------------------------------------------------------------------------
    def drop_next_frames(self, n: int) -> None:
        """The next ``n`` frames fail in the pipeline (released, never encoded)."""
        with self._lock:
            self._drop += n

    def stall(self) -> None:
        """The sensor stops delivering frames (what a loose ribbon cable looks like)."""
        with self._lock:
            self._stalled = True

    def resume(self) -> None:
        with self._lock:
            self._stalled = False

    def show_image(self, bgr: np.ndarray | None) -> None:
        """Have the sensor see ``bgr`` (stretched to each stream's size); None: the pattern."""
        with self._lock:
            self._image = bgr

    def scene_bgr(self, width: int, height: int, sequence: int) -> np.ndarray:
        """What the sensor sees in frame ``sequence``, as a BGR picture of the given size."""
        with self._lock:
            image = self._image
        if image is not None:
            return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        ramp = np.linspace(32, 224, width, dtype=np.float32).astype(np.uint8)
        picture = np.repeat(np.repeat(ramp[np.newaxis, :, np.newaxis], height, 0), 3, 2)
        x = (sequence * 4) % max(1, width - width // 8)
        picture[:, x:x + width // 8] = (40, 160, 240)
        return picture

    # -- the sensor ----------------------------------------------------------------------------
    def _sensor(self) -> None:
        period_ns = self.frame_duration_us * 1000
        start = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        sequence = 0
        while True:
            due = start + sequence * period_ns
            delay = (due - time.clock_gettime_ns(time.CLOCK_MONOTONIC)) / 1e9
            if self._halt.wait(max(0.0, delay)):
                return
            sequence += 1
            with self._lock:
                if self._stalled:
                    continue
                if self._drop:
                    self._drop -= 1
                    self.dropped_timestamps.append(due)
                    continue
                self.sensor_timestamps.append(due)
                jobs, self._jobs = self._jobs, []
                encoders = list(self.encoders)
            request = CompletedRequest(self, due, sequence - 1)
            for job in jobs:
                job.execute(request)
            for encoder in encoders:
                if encoder.name in self.camera_config:
                    encoder.encode(encoder.name, request)
            request.release()
