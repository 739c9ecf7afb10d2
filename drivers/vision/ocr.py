"""Reading a shown document: PP-OCRv4 (``rapidocr-onnxruntime`` 1.4.4, Chinese detection and
recognition, Apache-2.0) in a worker process.

Why a worker: loading the models in the daemon costs +83 MB, a read +295 MB, and after the
engine is dropped and the heap trimmed +93 MB stay (onnxruntime and its arenas) — measured on
this machine; the daemon's budget is 150 MB. The worker (:mod:`drivers.vision.ocr_worker`) is
started on the first read or on :meth:`DocumentReader.prepare` (do that when the session
reaches its ID node, so the customer does not wait ~1 s for the models), exits by itself
``idle_s`` after its last read, or at once on :meth:`DocumentReader.release`. The daemon never
imports onnxruntime.

Every request is bounded: the worker must be ready within ``load_timeout_s`` and answer
within ``timeout_s`` or it is killed (:class:`OcrTimeout`); a worker that dies raises
:class:`~drivers.errors.DeviceLostError`; one that lacks a library or a model file raises
:class:`~drivers.errors.DeviceMissingError` naming it.

What the OCR reads is personal data: this module keeps none of it and logs none of it.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from drivers.errors import BadDriverArgument, DeviceLostError, DeviceMissingError, DriverError
from drivers.vision.model_files import verified_path
from drivers.vision.ocr_worker import MODELS, WorkerConfig

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_WORKER_MAIN = "import sys; from drivers.vision.ocr_worker import main; main(sys.argv[1:])"
MAX_SIDE = 4096   # larger images are refused (a 1080p frame is 1920)
MIN_SIDE = 16


class OcrTimeout(DriverError, TimeoutError):
    """The worker did not answer in time; it was killed (the next read starts a new one)."""


@dataclass(frozen=True)
class TextLine:
    """One line of text: ``box`` its four corners ``(x, y)`` in pixels of the image read
    (clockwise from top-left of the text), ``score`` the recogniser's confidence 0..1."""

    text: str
    box: tuple[tuple[int, int], ...]
    score: float


class DocumentReader:
    """PP-OCRv4 in a worker process. Thread-safe: one read at a time."""

    def __init__(self, *, threads: int = 2, idle_s: float = 60.0, max_side: int = 960,
                 load_timeout_s: float = 120.0, timeout_s: float = 60.0,
                 python: str = sys.executable) -> None:
        if not isinstance(threads, int) or not 1 <= threads <= 16:
            raise BadDriverArgument(f"threads={threads!r}: must be an integer 1..16")
        if not isinstance(max_side, int) or not 320 <= max_side <= MAX_SIDE:
            raise BadDriverArgument(f"max_side={max_side!r}: must be an integer 320..{MAX_SIDE}")
        for name, value in (("idle_s", idle_s), ("load_timeout_s", load_timeout_s),
                            ("timeout_s", timeout_s)):
            if not isinstance(value, (int, float)) or not 0 < value <= 3600:
                raise BadDriverArgument(f"{name}={value!r}: must be seconds, 0 < s <= 3600")
        self._config = WorkerConfig(threads, float(idle_s), max_side)
        self._load_timeout_s = float(load_timeout_s)
        self._timeout_s = float(timeout_s)
        self._python = python
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._closed = False
        self.starts = 0           # workers started
        self.load_s = 0.0         # the last worker's load time
        self.peak_rss_kb = 0      # the largest peak RSS a worker reported

    def check(self) -> None:
        """The self-test: the model files are the pinned ones (hashed here; nothing loaded).
        DeviceMissingError naming what is wrong."""
        for pinned in MODELS:
            verified_path(pinned)

    @property
    def worker_pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def prepare(self) -> None:
        """Start the worker now, so the next read does not wait for the models to load."""
        with self._lock:
            self._check_open()
            self._start_if_needed()

    def read(self, bgr: np.ndarray) -> list[TextLine]:
        """The text lines in ``bgr`` (uint8, shape (h, w, 3)), top to bottom."""
        _check_image(bgr)
        h, w = bgr.shape[:2]
        request = ("read", {"height": h, "width": w,
                            "pixels": np.ascontiguousarray(bgr).tobytes()})
        with self._lock:
            self._check_open()
            for attempt in (1, 2):
                self._start_if_needed()
                reply = self._exchange(request)
                if reply is not None:
                    return _answer(reply, self)
                # gone before or while reading (idle exit, killed, crashed): a read has no
                # side effects, so a fresh worker tries once more; an image that kills the
                # worker kills the second one too and is reported
                code = self._reap()
                if attempt == 2:
                    raise DeviceLostError(f"ocr: the worker exited (code {code}) while "
                                          "reading, twice; see the log")
        raise AssertionError("unreachable")

    def release(self) -> None:
        """Stop the worker now (its memory goes back); the next read starts a new one."""
        with self._lock:
            self._stop()

    def close(self) -> None:
        """Stop the worker; safe twice. Reads after it raise DriverError."""
        with self._lock:
            self._closed = True
            self._stop()

    def __enter__(self) -> DocumentReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- inside the lock -----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise DriverError("ocr: the document reader is closed; make a new DocumentReader")

    def _start_if_needed(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        if self._process is not None:
            self._reap()
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
            raise DeviceMissingError(f"ocr: cannot start the worker with {self._python}: "
                                     f"{exc.strerror}") from None
        finally:
            theirs.close()
        ours = Connection(mine.detach())
        self._process, self._conn = process, ours
        self.starts += 1
        if not ours.poll(self._load_timeout_s):
            self._stop()
            raise OcrTimeout(f"ocr: the worker did not load within "
                             f"{self._load_timeout_s:.0f} s")
        try:
            tag, payload = ours.recv()
        except (EOFError, OSError):
            code = self._reap()
            raise DeviceLostError(f"ocr: the worker exited (code {code}) while loading; "
                                  "see the log") from None
        if tag == "ready":
            self.load_s = payload["load_s"]
            self.peak_rss_kb = max(self.peak_rss_kb, payload["maxrss_kb"])
            return
        self._reap()
        if tag == "missing":
            raise DeviceMissingError(payload)
        raise DriverError(payload)

    def _exchange(self, request: tuple) -> tuple | None:
        """Send one request and wait for its reply; None if the worker had gone."""
        conn = self._conn
        assert conn is not None
        try:
            conn.send(request)
            if not conn.poll(self._timeout_s):
                self._stop()
                raise OcrTimeout(f"ocr: the worker took more than {self._timeout_s:.0f} s "
                                 "for one image; killed")
            return conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            return None

    def _stop(self) -> None:
        if self._conn is not None and self._process is not None and self._process.poll() is None:
            try:
                self._conn.send(("stop", None))
            except (BrokenPipeError, OSError):
                pass  # already gone: _reap collects it
        self._reap()

    def _reap(self) -> int | None:
        """Forget the worker (joining it, killing it if it does not exit within 5 s); its exit
        code, or None if there was none."""
        process, conn = self._process, self._conn
        self._process, self._conn = None, None
        if conn is not None:
            conn.close()
        if process is None:
            return None
        try:
            return process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def _answer(reply: tuple, reader: DocumentReader) -> list[TextLine]:
    tag, payload = reply
    if tag != "lines":
        raise DriverError(f"ocr: the worker failed on an image: {payload}")
    reader.peak_rss_kb = max(reader.peak_rss_kb, payload["maxrss_kb"])
    return [TextLine(text, tuple((int(x), int(y)) for x, y in box), float(score))
            for text, box, score in payload["lines"]]


def _check_image(bgr: object) -> None:
    shape = getattr(bgr, "shape", None)
    if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8 or bgr.ndim != 3 \
            or bgr.shape[2] != 3:
        raise BadDriverArgument(f"image must be a BGR uint8 array of shape (h, w, 3), "
                                f"got {getattr(bgr, 'dtype', type(bgr).__name__)} {shape}")
    h, w = bgr.shape[:2]
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise BadDriverArgument(f"image of {w}x{h} pixels: each side must be "
                                f"{MIN_SIDE}..{MAX_SIDE}")
