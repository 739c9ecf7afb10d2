"""The vision worker: the one child process in which the unit's OpenCV and onnxruntime live.

:class:`drivers.vision.VisionService` starts it as ``python -c '...main(sys.argv[1:])' --fd N
--config JSON``. It hosts the face detector (:mod:`drivers.vision.faces`, loaded on the first
analysis), the QR decoders (:mod:`drivers.vision.codes`) and PP-OCRv4
(:mod:`drivers.vision.ocr_engine`, loaded on the first text read), each loaded only when first
needed.

Protocol over the inherited Unix socket (fd ``N``), in :mod:`drivers.vision.wire` frames:

* worker → parent, once, when started: ``{"ready": {"pid": ...}}``;
* parent → worker: a JSON header ``{"op": ...}``, and for ops with an image one more frame,
  the image: raw pixels (``"image": {"kind": "raw", "height", "width", "channels"}``,
  row-major, uint8) or a JPEG/PNG still (``{"kind": "encoded"}``). Ops: ``"analyse"``
  (BGR), ``"codes"`` (``"enlarge": bool``), ``"text"``, ``"load"`` (``"faces"``/``"text"``:
  bool; no image), ``"stop"`` (no image, no reply);
* worker → parent, per op: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error":
  "missing" | "bad_image" | "failed", "message": ...}``.

The worker exits (code 0) ``idle_s`` after its last request, ``text_idle_s`` after its last
text read while the OCR engine is loaded (exiting is the only way onnxruntime's memory goes
back), when the parent's end closes, and on ``"stop"``; the next request starts a new one.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import time
from typing import Any

import cv2
import numpy as np

from drivers.errors import BadDriverArgument, DeviceMissingError
from drivers.vision.codes import decode_image, find_codes
from drivers.vision.faces import FaceDetector
from drivers.vision.inputs import MAX_ENCODED_BYTES, MAX_PIXELS, check_array
from drivers.vision.ocr_engine import load_engine, read_lines
from drivers.vision.wire import Wire
from drivers.vision.worker_config import WorkerConfig

MAX_HEADER = 64 * 1024
MAX_IMAGE_FRAME = max(MAX_PIXELS * 3, MAX_ENCODED_BYTES)
FRAME_TIMEOUT_S = 60.0   # once a request has begun, the rest of it must arrive within this
MAX_FACES = 200          # the detector's own output holds at most 200

log = logging.getLogger("drivers.vision.worker")


class _Models:
    """The models this worker has loaded, each on first use."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.faces: FaceDetector | None = None
        self.engine: Any = None
        self.text_used = 0.0

    def face_detector(self) -> FaceDetector:
        if self.faces is None:
            self.faces = FaceDetector(min_score=self.config.min_face_score)
        return self.faces

    def ocr(self) -> Any:
        if self.engine is None:
            self.engine = load_engine(self.config.threads)
        self.text_used = time.monotonic()
        return self.engine


def _image(wire: Wire, header: dict, *, grey: bool = False) -> np.ndarray:
    """The request's image frame as an array, checked as the parent checked it."""
    spec = header.get("image")
    payload = wire.recv(MAX_IMAGE_FRAME, timeout_s=FRAME_TIMEOUT_S)
    if not isinstance(spec, dict):
        raise BadDriverArgument("the request names no image")
    if spec.get("kind") == "encoded":
        return decode_image(bytes(payload))
    h, w, c = (spec.get(k) for k in ("height", "width", "channels"))
    if not all(isinstance(v, int) for v in (h, w, c)) or c not in (1, 3) \
            or len(payload) != h * w * c:
        raise BadDriverArgument(f"raw image of {len(payload)} bytes does not match its header "
                                f"{spec}")
    image = np.frombuffer(payload, np.uint8).reshape((h, w) if c == 1 else (h, w, 3))
    check_array(image, grey=grey)
    return image


def _answer(wire: Wire, models: _Models, header: dict) -> object:
    op = header.get("op")
    if op == "analyse":
        image = _image(wire, header)
        faces = models.face_detector().detect(image)[:MAX_FACES]
        brightness = int(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).mean())
        return {"faces": [[*f.box, f.score] for f in faces], "brightness": brightness}
    if op == "codes":
        image = _image(wire, header, grey=True)
        return {"codes": find_codes(image, enlarge=bool(header.get("enlarge")))}
    if op == "text":
        image = _image(wire, header)
        return {"lines": read_lines(models.ocr(), image, models.config.max_side)}
    if op == "load":
        if header.get("faces"):
            models.face_detector()
        if header.get("text"):
            models.ocr()
        return {}
    raise BadDriverArgument(f"unknown request {op!r}")


def _wait_s(models: _Models, last_request: float) -> float:
    deadline = last_request + models.config.idle_s
    if models.engine is not None:
        deadline = min(deadline, models.text_used + models.config.text_idle_s)
    return max(0.0, deadline - time.monotonic())


def serve(wire: Wire, config: WorkerConfig) -> None:
    """Answer requests until idle, stopped, or the parent's end closes."""
    if config.niceness:
        os.nice(config.niceness)
    cv2.setNumThreads(config.threads)
    models = _Models(config)
    wire.send_json({"ready": {"pid": os.getpid()}}, timeout_s=FRAME_TIMEOUT_S)
    last_request = time.monotonic()
    while wire.readable(_wait_s(models, last_request)):
        try:
            header = wire.recv_json(MAX_HEADER, timeout_s=FRAME_TIMEOUT_S)
        except EOFError:
            return   # the parent closed its end
        if header.get("op") == "stop":
            return
        try:
            reply = {"ok": True, "result": _answer(wire, models, header)}
        except DeviceMissingError as exc:
            reply = {"ok": False, "error": "missing", "message": str(exc)}
        except BadDriverArgument as exc:
            reply = {"ok": False, "error": "bad_image", "message": str(exc)}
        except (EOFError, ConnectionError, TimeoutError):
            raise   # the stream is broken: exit, the parent starts another worker
        except Exception as exc:  # reported to the parent, which raises it to its caller
            reply = {"ok": False, "error": "failed", "message": f"{type(exc).__name__}: {exc}"}
        wire.send_json(reply, timeout_s=FRAME_TIMEOUT_S)
        last_request = time.monotonic()
    log.debug("idle: exiting to give its memory back")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vision-worker",
                                     description="the vision worker (started by the daemon, "
                                                 "not by people)")
    parser.add_argument("--fd", type=int, required=True, help="the inherited socket")
    parser.add_argument("--config", required=True, help="WorkerConfig as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="vision worker: %(message)s")
    wire = Wire(socket.socket(fileno=args.fd))
    try:
        serve(wire, WorkerConfig.from_json(args.config))
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass   # the parent has gone or given up on us: nobody is left to answer
    except (ConnectionError, TimeoutError, ValueError) as exc:   # ValueError: not JSON
        log.error("the request stream broke (%s); exiting", exc)
        raise SystemExit(1) from None
    finally:
        wire.close()
