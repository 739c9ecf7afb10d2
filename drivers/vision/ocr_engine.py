"""The OCR worker: the child process :class:`drivers.vision.ocr.DocumentReader` starts as
``python -c '...main(sys.argv[1:])' --fd N --config JSON``, so that onnxruntime and the
PP-OCRv4 models (~300 MB while reading) live and die outside the daemon.

Protocol over one Unix socket (fd ``N``, inherited), framed and pickled by
:class:`multiprocessing.connection.Connection` (both ends are this code), each message a tuple
``(tag, payload)``:

* worker → parent, once, after loading: ``("ready", {"pid", "load_s", "maxrss_kb"})``, or
  ``("missing", message)`` (a library or model file; the worker then exits) or
  ``("failed", message)``;
* parent → worker: ``("read", {"height", "width", "pixels"})`` (BGR bytes, row-major) or
  ``("stop", None)``;
* worker → parent, per read: ``("lines", {"lines": [[text, [[x, y] * 4], score], ...],
  "read_s", "maxrss_kb"})`` or ``("failed", message)``.

The worker exits by itself (code :data:`IDLE_EXIT`) after ``idle_s`` seconds without a request,
and when the parent's end closes.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection

from drivers.errors import DeviceMissingError
from drivers.vision.model_files import PinnedFile, verified_path

IDLE_EXIT = 0
MISSING_EXIT = 3
FAILED_EXIT = 4

REQUIREMENT = "rapidocr-onnxruntime==1.4.4"
# installed without its dependencies (it asks for opencv-python, which would replace
# opencv-python-headless's cv2), so these are installed by name
REQUIREMENTS = ("rapidocr-onnxruntime==1.4.4 (with --no-deps) onnxruntime==1.32.0 "
                "pyclipper==1.4.0 shapely==2.2.0 PyYAML six tqdm")
MODELS = (
    PinnedFile("rapidocr_onnxruntime", REQUIREMENT, "models/ch_PP-OCRv4_det_infer.onnx", 4745517,
               "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"),
    PinnedFile("rapidocr_onnxruntime", REQUIREMENT, "models/ch_PP-OCRv4_rec_infer.onnx",
               10857958, "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b"),
    PinnedFile("rapidocr_onnxruntime", REQUIREMENT, "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
               585532, "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"),
)
MAX_LINES = 400
MAX_TEXT = 200


@dataclass(frozen=True)
class WorkerConfig:
    threads: int
    idle_s: float
    max_side: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        return cls(**json.loads(text))


class _LoadFailure(Exception):
    def __init__(self, tag: str, message: str) -> None:
        super().__init__(message)
        self.tag = tag


def _load(config: WorkerConfig):  # -> rapidocr_onnxruntime.RapidOCR
    """The OCR engine on the pinned models; imported here, never in the parent."""
    try:
        for pinned in MODELS:
            verified_path(pinned)
    except DeviceMissingError as exc:
        raise _LoadFailure("missing", f"ocr: {exc}") from None
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:
        raise _LoadFailure("missing", f"ocr: the Python package {exc.name!r} is not "
                           f"installed; install {REQUIREMENTS}") from None
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    try:
        # "max" keeps the detector at the image's own size (we scale large frames down to
        # max_side first); the default "min" 736 would blow a 640x360 frame up to 1308x736.
        return RapidOCR(intra_op_num_threads=config.threads, inter_op_num_threads=1,
                        det_limit_type="max", det_limit_side_len=960, print_verbose=False)
    except Exception as exc:  # a file that passed its hash check but does not load
        raise _LoadFailure("failed", f"ocr: the PP-OCRv4 models did not load: "
                           f"{type(exc).__name__}: {exc}") from None


def _read(engine, payload: dict, max_side: int) -> dict:
    import cv2
    import numpy as np

    began = time.monotonic()
    h, w = int(payload["height"]), int(payload["width"])
    image = np.frombuffer(payload["pixels"], np.uint8).reshape(h, w, 3)
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)),
                           interpolation=cv2.INTER_AREA)
    found, _ = engine(image)
    lines = []
    for box, text, score in (found or [])[:MAX_LINES]:
        corners = [[round(float(x) / scale), round(float(y) / scale)] for x, y in box]
        lines.append([str(text)[:MAX_TEXT], corners, float(score)])
    return {"lines": lines, "read_s": time.monotonic() - began, "maxrss_kb": _maxrss_kb()}


def serve(conn: Connection, config: WorkerConfig) -> None:
    """The worker's main: load, say ready, answer requests until idle, stopped or orphaned."""
    logging.basicConfig(level=logging.WARNING, format="ocr worker: %(message)s")
    started = time.monotonic()
    try:
        engine = _load(config)
    except _LoadFailure as failure:
        _send(conn, failure.tag, str(failure))
        conn.close()
        raise SystemExit(MISSING_EXIT if failure.tag == "missing" else FAILED_EXIT) from None
    _send(conn, "ready", {"pid": os.getpid(), "load_s": time.monotonic() - started,
                          "maxrss_kb": _maxrss_kb()})
    while True:
        try:
            if not conn.poll(config.idle_s):
                break
            tag, payload = conn.recv()
        except (EOFError, OSError):
            break
        if tag != "read":
            break
        try:
            reply = _read(engine, payload, config.max_side)
        except Exception as exc:  # reported to the parent, which raises it to its caller
            _send(conn, "failed", f"{type(exc).__name__}: {exc}")
        else:
            _send(conn, "lines", reply)
    conn.close()


def _send(conn: Connection, tag: str, payload: object) -> None:
    try:
        conn.send((tag, payload))
    except (BrokenPipeError, OSError):
        pass  # the parent is gone or gave up on this request: nobody is left to tell


def _maxrss_kb() -> int:
    """This process's peak resident set size (KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ocr-worker",
                                     description="OCR worker (started by the daemon, not by "
                                                 "people)")
    parser.add_argument("--fd", type=int, required=True, help="the inherited socket")
    parser.add_argument("--config", required=True, help="WorkerConfig as JSON")
    args = parser.parse_args(argv)
    serve(Connection(args.fd), WorkerConfig.from_json(args.config))
