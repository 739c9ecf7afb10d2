"""The simulated camera's sensor and encoder in a process of their own.

:class:`drivers.camera.sim.SimCamera` keeps the clock, the frame schedule, the test controls
and the sink in the daemon; this worker does what hardware does on a real unit and what costs
memory off it: it renders the scene (OpenCV, Pillow, the scikit-image and matplotlib
photographs), encodes H.264 with libx264 (PyAV), and makes JPEG stills and analysis images.
The daemon never imports any of those libraries for the simulated camera.

It is started by :class:`drivers.camera.sensor_process.SensorProcess` as
``python -c "…main(sys.argv[1:])" --fd N --config JSON`` with one end of a Unix stream socket
as fd ``N``, over which both sides speak :class:`drivers.vision.wire.Wire` frames (a 4-byte
big-endian length, then the bytes): each message is one JSON object, followed by the raw byte
frames it announces. Nothing is pickled.

- worker → owner, once: ``{"ready": {"pid": int}}``, or an error reply (below) when it cannot
  make frames (a library missing), after which it exits;
- owner → worker, each answered by exactly one reply, in order:

  ==========================================================  ==================================
  request                                                      reply ``result``, raw frames
  ==========================================================  ==================================
  ``{"op": "scene", "scene": str, "content": {name: value}}``  ``{"scene": str}``
  ``{"op": "image", "height": h, "width": w}`` + BGR pixels    ``{"scene": "image"}``
  ``{"op": "start"}``: a new encoder, no latest frame          ``{}``
  ``{"op": "frame", "slot", "timestamp_ns", "encode",          ``{"units": [[keyframe, pts],
  "keyframe"}``: render one frame (it becomes the latest),     ...]}`` + one frame per unit:
  encode it unless ``encode`` is false                         its H.264 access unit
  ``{"op": "flush"}``: drain the encoder                       the same, the last units
  ``{"op": "analysis"}``                                       ``{"timestamp_ns", "height",
                                                               "width"}`` + BGR pixels
  ``{"op": "jpeg"}``                                           ``{"timestamp_ns"}`` + the JPEG
  ``{"op": "stop"}``                                           (none: the worker exits)
  ==========================================================  ==================================

  A reply is ``{"ok": true, "result": {...}, "frames": n}`` followed by ``n`` raw frames
  (``analysis`` and ``jpeg`` give ``{"timestamp_ns": null}`` and no frame while there is no
  latest frame), or ``{"ok": false, "error": kind, "message": str}`` with ``kind`` one of
  ``"argument"`` (``BadDriverArgument``), ``"missing"`` (``DeviceMissingError``) or
  ``"failed"`` (anything else, the exception's type in the message). A scene's content value
  is ``{"type": "IdCard", "fields": {...}}`` (dates as ``{"date": "YYYY-MM-DD"}``) or
  ``{"type": name, "value": plain JSON}``.

Timestamps come from the owner's clock; the worker has none. It lives exactly as long as its
owner wants: it ignores SIGINT and SIGTERM (a Ctrl-C or systemd's stop reaches the whole
process group, and the owner closes the camera itself), exits on ``stop`` or when the owner's
end of the socket closes, and by itself within :data:`ORPHAN_CHECK_S` seconds of its owner
dying (it is re-parented).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from drivers.errors import BadDriverArgument, DeviceMissingError
from drivers.vision.wire import Wire, encode_json

log = logging.getLogger(__name__)

#: how often the worker checks that its owner is still alive, seconds
ORPHAN_CHECK_S = 0.5
#: the exit code of a worker that could not load (it told its owner why first)
FAILED_EXIT = 3
#: the exit code of a worker whose request stream broke (too large, not JSON, too slow)
BROKEN_EXIT = 4
#: the largest side of an image shown to the camera, pixels
MAX_IMAGE_SIDE = 8192
MAX_HEADER = 64 * 1024
#: how long one message may take to cross once it has begun, seconds
FRAME_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SensorConfig:
    """The camera the worker simulates, and who owns it (``owner_pid``)."""

    width: int
    height: int
    fps: int
    bitrate: int
    owner_pid: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SensorConfig:
        return cls(**json.loads(text))


Reply = tuple[dict[str, Any], list[bytes]]


class Sensor:
    """The scene renderer, the encoder of the current run and the latest frame made."""

    def __init__(self, config: SensorConfig) -> None:
        # Imported here, never when the owner imports this module for SensorConfig; an
        # ImportError goes to the owner naming the package.
        from drivers.camera import documents, images
        from drivers.camera.scenes import SceneRenderer
        from drivers.camera.x264 import X264Encoder

        self._config = config
        self._images = images
        self._documents = {"IdCard": documents.IdCard,
                           "ApplicationForm": documents.ApplicationForm}
        self._encoder_class = X264Encoder
        self._renderer = SceneRenderer(config.width, config.height, "pattern")
        self._encoder: Any = None
        self._latest: tuple[np.ndarray, int] | None = None

    def answer(self, header: dict[str, Any], pixels: bytearray | None) -> Reply:
        """The reply to one request (see the module docstring); raises on failure."""
        op = header.get("op")
        if op == "frame":
            return self._frame(header)
        if op == "scene":
            content = {str(k): self._content(str(k), v)
                       for k, v in dict(header.get("content") or {}).items()}
            self._renderer.set_scene(str(header.get("scene")), **content)
            return {"scene": self._renderer.scene}, []
        if op == "image":
            self._renderer.show_image(_pixels(header, pixels))
            return {"scene": self._renderer.scene}, []
        if op == "start":
            c = self._config
            self._encoder = self._encoder_class(c.width, c.height, c.fps, c.bitrate)
            self._latest = None
            return {}, []
        if op == "flush":
            encoder, self._encoder = self._encoder, None
            return _units([] if encoder is None else encoder.flush())
        if op == "analysis":
            if self._latest is None:
                return {"timestamp_ns": None}, []
            small = self._images.analysis_image(self._latest[0])
            return ({"timestamp_ns": self._latest[1], "height": small.shape[0],
                     "width": small.shape[1]}, [small.tobytes()])
        if op == "jpeg":
            if self._latest is None:
                return {"timestamp_ns": None}, []
            return ({"timestamp_ns": self._latest[1]},
                    [self._images.encode_jpeg(self._latest[0])])
        raise BadDriverArgument(f"the camera sensor has no request {op!r}")

    def _frame(self, header: dict[str, Any]) -> Reply:
        slot, timestamp_ns = int(header["slot"]), int(header["timestamp_ns"])
        bgr = self._renderer.render(timestamp_ns, slot)
        self._latest = (bgr, timestamp_ns)
        if not header.get("encode"):
            return _units([])
        if self._encoder is None:
            raise BadDriverArgument("frame: the camera sensor was not started")
        return _units(self._encoder.encode(bgr, slot, bool(header.get("keyframe"))))

    def _content(self, name: str, item: Any) -> Any:
        """One scene content value, as the owner sent it."""
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise BadDriverArgument(f"scene content {name}: not an encoded value")
        if "fields" not in item:
            return item.get("value")
        cls = self._documents.get(item["type"])
        if cls is None:
            raise BadDriverArgument(f"scene content {name}: the simulated camera cannot show "
                                    f"a {item['type']}")
        fields = {str(k): dt.date.fromisoformat(v["date"]) if isinstance(v, dict) else v
                  for k, v in dict(item["fields"]).items()}
        try:
            return cls(**fields)
        except TypeError as exc:
            raise BadDriverArgument(f"scene content {name}: {exc}") from None


def _units(packets: list[Any]) -> Reply:
    return ({"units": [[p.keyframe, p.pts] for p in packets]}, [p.data for p in packets])


def _pixels(header: dict[str, Any], pixels: bytearray | None) -> np.ndarray:
    h, w = header.get("height"), header.get("width")
    if not isinstance(h, int) or not isinstance(w, int) or not 0 < h <= MAX_IMAGE_SIDE \
            or not 0 < w <= MAX_IMAGE_SIDE or pixels is None or len(pixels) != h * w * 3:
        raise BadDriverArgument(f"image of {len(pixels or b'')} bytes does not match its "
                                f"header {h}x{w}x3")
    return np.frombuffer(pixels, np.uint8).reshape(h, w, 3)


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, BadDriverArgument):
        kind, message = "argument", str(exc)
    elif isinstance(exc, DeviceMissingError):
        kind, message = "missing", str(exc)
    elif isinstance(exc, ImportError):
        kind, message = "missing", (f"its sensor needs the Python package {exc.name!r}, which "
                                    f"is not installed ({exc}); install dualrec's requirements "
                                    f"(setup.py)")
    else:
        kind, message = "failed", f"{type(exc).__name__}: {exc}"
    return {"ok": False, "error": kind, "message": message}


def _exit_when_orphaned(owner_pid: int) -> None:
    """Exit the process once the owner is gone (the worker is then re-parented)."""
    while os.getppid() == owner_pid:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(0)  # nobody is left to answer to; nothing of ours needs cleaning up


def serve(wire: Wire, config: SensorConfig) -> int:
    """Load, say ready, answer requests until stopped or the owner's end closes; the exit
    code (0, or :data:`FAILED_EXIT` when it could not load)."""
    try:
        sensor = Sensor(config)
    except Exception as exc:  # told to the owner, which raises it to whoever opened the camera
        wire.send_json(_error(exc), timeout_s=FRAME_TIMEOUT_S)
        return FAILED_EXIT
    wire.send_json({"ready": {"pid": os.getpid()}}, timeout_s=FRAME_TIMEOUT_S)
    while wire.readable(None):
        header = wire.recv_json(MAX_HEADER, timeout_s=FRAME_TIMEOUT_S)
        if header.get("op") == "stop":
            return 0
        pixels = None
        if header.get("op") == "image":
            pixels = wire.recv(MAX_IMAGE_SIDE * MAX_IMAGE_SIDE * 3, timeout_s=FRAME_TIMEOUT_S)
        try:
            result, frames = sensor.answer(header, pixels)
        except Exception as exc:  # the owner raises it to its caller or reports the camera lost
            reply, frames = _error(exc), []
        else:
            reply = {"ok": True, "result": result, "frames": len(frames)}
        wire.send(encode_json(reply), *frames, timeout_s=FRAME_TIMEOUT_S)
    return 0


def main(argv: list[str] | None = None) -> None:
    """Entry point of the worker process (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="camera-sensor",
                                     description="the simulated camera's sensor (started by "
                                                 "the simulated camera, not by people)")
    parser.add_argument("--fd", type=int, required=True, help="the inherited socket")
    parser.add_argument("--config", required=True, help="SensorConfig as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="camera sensor: %(message)s")
    config = SensorConfig.from_json(args.config)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(config.owner_pid,),
                     name="orphan-check", daemon=True).start()
    wire = Wire(socket.socket(fileno=args.fd))
    try:
        code = serve(wire, config)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        code = 0  # the owner has gone or given up on us: nobody is left to answer
    except (ConnectionError, TimeoutError, ValueError) as exc:  # ValueError: not JSON
        log.error("the request stream broke (%s); exiting", exc)
        code = BROKEN_EXIT
    wire.close()
    os._exit(code)  # nothing left to flush; skips tearing down OpenCV and PyAV (~60 ms)
