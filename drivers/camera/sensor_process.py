"""The owner's side of the simulated camera's sensor process (:mod:`drivers.camera.sensor_worker`,
which describes the messages).

One request at a time, the whole exchange (sending included) within ``timeout_s`` seconds or
the worker is killed: a worker that dies, hangs, breaks the protocol or cannot start raises
:class:`~drivers.errors.DeviceLostError` (or :class:`~drivers.errors.DeviceMissingError` when
a library it needs is missing), never a hang. The worker's failures to carry out a request
come back as the driver errors they were (``BadDriverArgument``, ``DeviceMissingError``) or as
:class:`~drivers.errors.DriverError`. Every reply is bounded in size; nothing is unpickled.

Importing this module imports none of the worker's libraries (no OpenCV, PyAV, Pillow).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from drivers.camera.sensor_worker import MAX_HEADER, MAX_IMAGE_SIDE, SensorConfig
from drivers.errors import BadDriverArgument, DeviceLostError, DeviceMissingError, DriverError
from drivers.vision.wire import Wire, encode_json

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_WORKER_MAIN = "import sys; from drivers.camera.sensor_worker import main; main(sys.argv[1:])"

#: the largest raw frame read from the worker: an access unit, a JPEG still, an analysis image
MAX_FRAME = 32 * 1024 * 1024
#: the most raw frames one reply may announce (an encoder flush gives a handful)
MAX_FRAMES = 64

_ERRORS: dict[str, type[DriverError]] = {"argument": BadDriverArgument,
                                         "missing": DeviceMissingError, "failed": DriverError}


class EncodedUnit(NamedTuple):
    """One H.264 access unit from the worker's encoder; ``pts`` is the slot it was made for."""

    data: bytes
    keyframe: bool
    pts: int


class SensorProcess:
    """The worker process of one simulated camera; thread-safe (requests are serialised).

    ``start_timeout_s`` bounds the worker's start (Python and its libraries loading),
    ``timeout_s`` every exchange after that, in seconds of real time.
    """

    def __init__(self, config: SensorConfig, *, timeout_s: float, start_timeout_s: float = 60.0,
                 python: str = sys.executable) -> None:
        self._config = config
        self._timeout_s = timeout_s
        self._start_timeout_s = start_timeout_s
        self._python = python
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._wire: Wire | None = None

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs, else None."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def alive(self) -> bool:
        return self.pid is not None

    # -- the requests ----------------------------------------------------------------------------
    def show_scene(self, scene: str, content: dict[str, Any]) -> str:
        """Show ``scene`` with ``content`` from the next frame on; the scene's name."""
        header = {"op": "scene", "scene": scene,
                  "content": {str(k): _content(str(k), v) for k, v in content.items()}}
        return str(self._exchange(header)[0]["scene"])

    def show_image(self, bgr: np.ndarray) -> str:
        """Show ``bgr`` (BGR uint8, any size up to :data:`MAX_IMAGE_SIDE`) from the next frame."""
        shape = getattr(bgr, "shape", None)
        if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8 or bgr.ndim != 3 \
                or bgr.shape[2] != 3 or not all(0 < side <= MAX_IMAGE_SIDE
                                                for side in bgr.shape[:2]):
            raise BadDriverArgument(f"image must be a BGR uint8 array of shape (h, w, 3), each "
                                    f"side 1..{MAX_IMAGE_SIDE} pixels, got "
                                    f"{getattr(bgr, 'dtype', type(bgr).__name__)} {shape}")
        header = {"op": "image", "height": bgr.shape[0], "width": bgr.shape[1]}
        return str(self._exchange(header, np.ascontiguousarray(bgr))[0]["scene"])

    def start(self) -> None:
        """A new encoder for a new run; no latest frame until the next one is made."""
        self._exchange({"op": "start"})

    def frame(self, slot: int, timestamp_ns: int, *, encode: bool,
              keyframe: bool) -> list[EncodedUnit]:
        """Make the frame of ``slot`` at ``timestamp_ns``; encode it (as a keyframe if asked)
        unless not ``encode``. The access units the encoder gave out."""
        return _units(*self._exchange({"op": "frame", "slot": slot, "timestamp_ns": timestamp_ns,
                                       "encode": encode, "keyframe": keyframe}))

    def flush(self) -> list[EncodedUnit]:
        """Drain the encoder at the end of a run."""
        return _units(*self._exchange({"op": "flush"}))

    def analysis(self) -> tuple[np.ndarray, int] | None:
        """The latest frame at the analysis size and its timestamp, or None."""
        result, frames = self._exchange({"op": "analysis"})
        if result.get("timestamp_ns") is None:
            return None
        h, w = result.get("height"), result.get("width")
        if not isinstance(h, int) or not isinstance(w, int) or len(frames) != 1 \
                or not 0 < h <= MAX_IMAGE_SIDE or not 0 < w <= MAX_IMAGE_SIDE \
                or len(frames[0]) != h * w * 3:
            raise DriverError(f"simulated camera: its sensor sent an analysis image that does "
                              f"not match its size {h}x{w}")
        return np.frombuffer(frames[0], np.uint8).reshape(h, w, 3), int(result["timestamp_ns"])

    def jpeg(self) -> tuple[bytes, int] | None:
        """The latest frame as a JPEG still and its timestamp, or None."""
        result, frames = self._exchange({"op": "jpeg"})
        if result.get("timestamp_ns") is None:
            return None
        if len(frames) != 1:
            raise DriverError("simulated camera: its sensor sent no JPEG with the still")
        return bytes(frames[0]), int(result["timestamp_ns"])

    # -- the process -----------------------------------------------------------------------------
    def spawn(self) -> None:
        """Start a new worker (ending the old one) and wait until it is ready to make frames."""
        with self._lock:
            self._end()
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            environment = dict(os.environ)
            environment["PYTHONPATH"] = os.pathsep.join(
                p for p in (_PACKAGE_ROOT, environment.get("PYTHONPATH", "")) if p)
            try:
                process = subprocess.Popen(
                    [self._python, "-c", _WORKER_MAIN, "--fd", str(theirs.fileno()),
                     "--config", self._config.to_json()],
                    pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=environment,
                    close_fds=True)
            except OSError as exc:
                mine.close()
                raise DeviceMissingError(f"simulated camera: cannot start its sensor process "
                                         f"with {self._python}: {exc.strerror}") from None
            finally:
                theirs.close()
            self._process, self._wire = process, Wire(mine)
            hello = self._receive("start", self._start_timeout_s, time.monotonic())
            if not isinstance(hello.get("ready"), dict):
                self._end()
                raise _error("start", hello)

    def close(self) -> None:
        """Stop the worker (kill it if it does not exit within 5 s); safe twice."""
        with self._lock:
            self._end()

    def _exchange(self, header: dict[str, Any],
                  pixels: np.ndarray | None = None) -> tuple[dict[str, Any], list[bytearray]]:
        """Send one request; its reply's result and raw frames."""
        op = str(header["op"])
        message = encode_json(header)
        with self._lock:
            wire, process = self._wire, self._process
            if wire is None or process is None:
                raise DeviceLostError("simulated camera: its sensor process is not running")
            began = time.monotonic()
            failure = None
            try:
                wire.send(message, *([] if pixels is None else [pixels]),
                          timeout_s=self._timeout_s)
            except TimeoutError:
                failure = self._lost(op, "did not take", self._timeout_s)
            except OSError:
                failure = self._lost(op, "exited")
            if failure is not None:
                raise failure
            reply = self._receive(op, self._timeout_s, began)
            if reply.get("ok") is not True:
                raise _error(op, reply)
            count = reply.get("frames", 0)
            if not isinstance(count, int) or not 0 <= count <= MAX_FRAMES \
                    or not isinstance(reply.get("result"), dict):
                raise self._lost(op, "broke the protocol")
            return reply["result"], [self._read_frame(op, self._timeout_s, began)
                                     for _ in range(count)]

    # -- inside the lock -----------------------------------------------------------------------
    def _receive(self, op: str, timeout_s: float, began: float) -> dict[str, Any]:
        """The next JSON message, by ``timeout_s`` after ``began``."""
        wire = self._wire
        assert wire is not None
        failure = None
        try:
            return wire.recv_json(MAX_HEADER, timeout_s=_left(timeout_s, began))
        except TimeoutError:
            failure = self._lost(op, "did not answer", timeout_s)
        except (EOFError, BrokenPipeError, ConnectionResetError):
            failure = self._lost(op, "exited")
        except (ConnectionError, ValueError):  # too large or not JSON
            failure = self._lost(op, "broke the protocol")
        raise failure

    def _read_frame(self, op: str, timeout_s: float, began: float) -> bytearray:
        """The next raw frame, by ``timeout_s`` after ``began``."""
        wire = self._wire
        assert wire is not None
        failure = None
        try:
            return wire.recv(MAX_FRAME, timeout_s=_left(timeout_s, began))
        except TimeoutError:
            failure = self._lost(op, "did not answer", timeout_s)
        except (EOFError, BrokenPipeError, ConnectionResetError):
            failure = self._lost(op, "exited")
        except ConnectionError:  # too large
            failure = self._lost(op, "broke the protocol")
        raise failure

    def _lost(self, op: str, what: str, timeout_s: float | None = None) -> DeviceLostError:
        """End the worker (killed unless it exited by itself); the error that says why."""
        pid = self._process.pid if self._process is not None else None
        code = self._end(kill=what != "exited")
        if what == "exited":
            return DeviceLostError(f"simulated camera: its sensor process (pid {pid}) exited "
                                   f"(code {code}) during {op!r}")
        within = "" if timeout_s is None else f" within {timeout_s:g} s"
        return DeviceLostError(f"simulated camera: its sensor process (pid {pid}) {what} "
                               f"{op!r}{within}; killed")

    def _end(self, kill: bool = False) -> int | None:
        """Forget the worker: ask it to stop, join it (killing it if it does not exit within
        5 s, or at once with ``kill``); its exit code, or None if there was none."""
        process, wire = self._process, self._wire
        self._process, self._wire = None, None
        if wire is not None:
            if not kill and process is not None and process.poll() is None:
                try:
                    wire.send_json({"op": "stop"}, timeout_s=1.0)
                except (OSError, TimeoutError):
                    pass  # already gone or stuck: the wait below ends it
            wire.close()
        if process is None:
            return None
        if kill and process.poll() is None:
            process.kill()
        try:
            return process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def _left(timeout_s: float, began: float) -> float:
    return max(0.0, began + timeout_s - time.monotonic())


def _units(result: dict[str, Any], frames: list[bytearray]) -> list[EncodedUnit]:
    units = result.get("units")
    if not isinstance(units, list) or len(units) != len(frames):
        raise DriverError("simulated camera: its sensor sent access units that do not match "
                          "their list")
    return [EncodedUnit(bytes(data), bool(keyframe), int(pts))
            for (keyframe, pts), data in zip(units, frames)]


def _error(op: str, reply: dict[str, Any]) -> DriverError:
    kind, message = reply.get("error"), reply.get("message", repr(reply))
    return _ERRORS.get(str(kind), DriverError)(f"simulated camera {op}: {message}")


def _content(name: str, value: Any) -> dict[str, Any]:
    """A scene's content value as JSON: a dataclass (a document) by its type and fields, a
    plain value as it is; anything else cannot cross to the sensor."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__,
                "fields": {f.name: _plain(name, getattr(value, f.name), dates=True)
                           for f in dataclasses.fields(value)}}
    return {"type": type(value).__name__, "value": _plain(name, value)}


def _plain(name: str, value: Any, *, dates: bool = False) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if dates and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return {"date": value.isoformat()}
    raise BadDriverArgument(f"scene content {name}: a {type(value).__name__} cannot be sent to "
                            "the simulated camera's sensor")
