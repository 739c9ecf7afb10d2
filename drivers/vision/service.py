"""The unit's eyes, outside the daemon: faces and brightness, QR codes and text, answered by one
worker process (:mod:`drivers.vision.worker`) in which OpenCV and onnxruntime live.

Why: OpenCV alone costs a process 45-60 MB, the face detector 20-31 MB more, PP-OCRv4 up to
~300 MB while reading; the daemon's budget is 150 MB. This side imports neither library (only
numpy, the standard library and the worker's JSON protocol), and never unpickles anything.

Lifetime (chosen so that memory comes back when nothing is being looked at): the worker
starts on the first request or on :meth:`VisionService.prepare`, and exits by itself
``idle_s`` after its last request; while a session records, faces are analysed once a second,
so it stays up for the whole session. The OCR engine (the big part) loads on the first text
read and the worker exits ``text_idle_s`` after the last one, so a session that read an ID card
does not carry PP-OCRv4 to its end: the next analysis starts a fresh worker (~0.5 s here).
:meth:`VisionService.release` stops it at once.

Every request is bounded: images by :mod:`drivers.vision.inputs` (checked here, before
crossing, and again in the worker), replies by size, waits by time. A worker that does not
start within ``load_timeout_s`` or answer within ``timeout_s`` is killed
(:class:`VisionTimeout`); one that dies is replaced, and the request (which has no side
effects) tried once more on the new one; dying again raises
:class:`~drivers.errors.DeviceLostError`. A missing library or model file raises
:class:`~drivers.errors.DeviceMissingError` naming it. Analysis images cross as raw pixels;
stills as the JPEG the camera made.
"""
from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from drivers.errors import BadDriverArgument, DeviceLostError, DeviceMissingError, DriverError
from drivers.vision.findings import Face, FrameAnalysis, Image, TextLine
from drivers.vision.inputs import check_array, check_encoded
from drivers.vision.model_files import VISION_MODELS, verified_path
from drivers.vision.wire import Wire, encode_json
from drivers.vision.worker_config import WorkerConfig
from drivers.worker_environment import worker_environment

_WORKER_MAIN = "import sys; from drivers.vision.worker import main; main(sys.argv[1:])"
MAX_REPLY = 1024 * 1024     # 400 OCR lines of 200 characters with their boxes fit
_LIBRARIES = (("cv2", "opencv-python-headless==4.14.0.94"),
              ("onnxruntime", "onnxruntime==1.32.0"),
              ("rapidocr_onnxruntime", "--no-deps rapidocr-onnxruntime==1.4.4"),
              ("pyclipper", "pyclipper==1.4.0"), ("shapely", "shapely==2.2.0"),
              ("yaml", "PyYAML"))


class VisionTimeout(DriverError, TimeoutError):
    """The worker did not start or answer in time (it was killed; the next request starts a
    new one), or another request held the service for longer than this one's timeout."""


class VisionService:
    """Faces, brightness, QR codes and text from one worker process. Thread-safe: requests
    are answered one at a time, in the order the lock grants them.

    ``threads``: OpenCV's and onnxruntime's threads in the worker. ``idle_s`` and
    ``text_idle_s``: see the module docstring. ``ocr_max_side``: larger frames are read scaled
    down. ``min_face_score``: as :class:`~drivers.vision.faces.FaceDetector`'s.
    ``niceness``: added to the worker's, so that the recorder comes first. ``timeout_s``: the
    default per request (each call may give its own), bounding the wait for a request before
    it (the service is busy) and then the worker's answer, which includes loading a model on
    its first use; starting a worker is bounded by ``load_timeout_s``.
    """

    def __init__(self, *, threads: int = 2, idle_s: float = 30.0, text_idle_s: float = 60.0,
                 ocr_max_side: int = 960, min_face_score: float = 0.3,
                 load_timeout_s: float = 60.0, timeout_s: float = 30.0, niceness: int = 5,
                 python: str = sys.executable) -> None:
        if not isinstance(threads, int) or not 1 <= threads <= 16:
            raise BadDriverArgument(f"threads={threads!r}: must be an integer 1..16")
        if not isinstance(ocr_max_side, int) or not 320 <= ocr_max_side <= 4096:
            raise BadDriverArgument(f"ocr_max_side={ocr_max_side!r}: must be an integer "
                                    "320..4096")
        if not isinstance(min_face_score, (int, float)) or not 0.0 < min_face_score <= 1.0:
            raise BadDriverArgument(f"min_face_score={min_face_score!r}: must be in (0, 1]")
        if not isinstance(niceness, int) or not 0 <= niceness <= 19:
            raise BadDriverArgument(f"niceness={niceness!r}: must be an integer 0..19")
        for name, value in (("idle_s", idle_s), ("text_idle_s", text_idle_s),
                            ("load_timeout_s", load_timeout_s), ("timeout_s", timeout_s)):
            _check_seconds(name, value)
        self._config = WorkerConfig(threads, float(idle_s), float(text_idle_s), ocr_max_side,
                                    float(min_face_score), niceness)
        self._load_timeout_s = float(load_timeout_s)
        self._timeout_s = float(timeout_s)
        self._python = python
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._wire: Wire | None = None
        self._closed = False
        self.starts = 0        # workers started so far
        self.load_s = 0.0      # how long the last worker took to be ready

    # -- the requests ------------------------------------------------------------------------
    def analyse(self, bgr: np.ndarray, *, timeout_s: float | None = None) -> FrameAnalysis:
        """Faces (best score first, boxes in ``bgr``'s pixels) and mean brightness of a BGR
        uint8 image (the camera's analysis image; larger images are scaled down to 320 px wide
        for the detector)."""
        check_array(bgr)
        result = self._request({"op": "analyse"}, bgr, timeout_s)
        faces = tuple(Face((int(x), int(y), int(w), int(h)), float(score))
                      for x, y, w, h, score in result["faces"])
        return FrameAnalysis(faces, int(result["brightness"]))

    def read_codes(self, image: Image, *, enlarge: bool = False,
                   timeout_s: float | None = None) -> list[str]:
        """The texts of the QR codes in ``image`` (a BGR or grey uint8 array, or JPEG/PNG
        bytes): today at most one, the first read; empty when none can be read. ``enlarge``:
        see :class:`drivers.vision.findings.CodeReader` (this method is one)."""
        result = self._request({"op": "codes", "enlarge": bool(enlarge)},
                               _checked(image, grey=True), timeout_s)
        return [str(text) for text in result["codes"]]

    def read_text(self, image: Image, *, timeout_s: float | None = None) -> list[TextLine]:
        """The text lines in ``image`` (a BGR uint8 array, or JPEG/PNG bytes), top to bottom,
        boxes in the image's pixels. The first read loads PP-OCRv4 (~1 s here)."""
        result = self._request({"op": "text"}, _checked(image, grey=False), timeout_s)
        return [TextLine(str(text), tuple((int(x), int(y)) for x, y in box), float(score))
                for text, box, score in result["lines"]]

    def prepare(self, *, text: bool = False, timeout_s: float | None = None) -> None:
        """Start the worker and load the face detector now (and PP-OCRv4 with ``text``: do
        that when the session reaches a document, so the customer does not wait for it)."""
        self._request({"op": "load", "faces": True, "text": bool(text)}, None, timeout_s)

    def check(self) -> None:
        """The self-test: the libraries are installed and every model file is the pinned one
        (hashed here; nothing is imported or loaded). DeviceMissingError naming what is
        wrong and how to install it."""
        for module, requirement in _LIBRARIES:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise DeviceMissingError(f"vision: the Python package {module!r} is not "
                                         f"installed; install it with 'pip install "
                                         f"{requirement}'")
        for pinned in VISION_MODELS:
            verified_path(pinned)

    # -- the worker --------------------------------------------------------------------------
    @property
    def worker_pid(self) -> int | None:
        """The running worker's process id, or None."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def worker_memory_kb(self) -> tuple[int, int] | None:
        """The running worker's resident set size and its peak (``VmRSS``, ``VmHWM``) in KiB,
        or None if none runs."""
        pid = self.worker_pid
        if pid is None:
            return None
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        try:
            return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
        except (KeyError, ValueError, IndexError):
            return None

    def release(self) -> None:
        """Stop the worker now (its memory goes back); the next request starts a new one."""
        with self._lock:
            self._stop()

    def close(self) -> None:
        """Stop the worker; safe twice. Requests afterwards raise DriverError."""
        with self._lock:
            self._closed = True
            self._stop()

    def __enter__(self) -> VisionService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one request ---------------------------------------------------------------------------
    def _request(self, header: dict, image: np.ndarray | bytes | None,
                 timeout_s: float | None) -> dict:
        timeout = self._timeout_s if timeout_s is None else _check_seconds("timeout_s",
                                                                           timeout_s)
        if image is not None:
            header["image"] = _image_spec(image)
        if not self._lock.acquire(timeout=timeout):
            raise VisionTimeout(f"vision: busy with another request for more than "
                                f"{timeout:g} s")
        try:
            if self._closed:
                raise DriverError("vision: the service is closed; make a new VisionService")
            for attempt in (1, 2):
                self._start_if_needed()
                reply = self._exchange(header, image, timeout)
                if reply is not None:
                    return _result(reply, header["op"])
                # gone before or while answering (idle exit, killed, crashed): a request has
                # no side effects, so a fresh worker tries once more; an image that kills the
                # worker kills the second one too and is reported
                code = self._reap()
                if attempt == 2:
                    raise DeviceLostError(f"vision: the worker exited (code {code}) while "
                                          f"answering {header['op']!r}, twice; see the log")
            raise AssertionError("unreachable")
        finally:
            self._lock.release()

    # -- inside the lock -----------------------------------------------------------------------
    def _start_if_needed(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._reap()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        environment = worker_environment()
        began = time.monotonic()
        try:
            process = subprocess.Popen(
                [self._python, "-c", _WORKER_MAIN, "--fd", str(theirs.fileno()),
                 "--config", self._config.to_json()],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=environment,
                close_fds=True)
        except OSError as exc:
            mine.close()
            raise DeviceMissingError(f"vision: cannot start the worker with {self._python}: "
                                     f"{exc.strerror}") from None
        finally:
            theirs.close()
        self._process, self._wire = process, Wire(mine)
        self.starts += 1
        try:
            hello = self._wire.recv_json(MAX_REPLY, timeout_s=self._load_timeout_s)
        except TimeoutError:
            self._kill()
            raise VisionTimeout(f"vision: the worker did not start within "
                                f"{self._load_timeout_s:g} s; killed") from None
        except (EOFError, ConnectionError, ValueError):
            code = self._reap()
            self.check()   # a missing library or model file is named, not only "it died"
            raise DeviceLostError(f"vision: the worker exited (code {code}) while starting; "
                                  "see the log") from None
        if not isinstance(hello.get("ready"), dict):
            self._kill()
            raise DriverError(f"vision: the worker said {hello!r} instead of being ready")
        self.load_s = time.monotonic() - began

    def _exchange(self, header: dict, image: np.ndarray | bytes | None,
                  timeout_s: float) -> dict | None:
        """Send one request and have its reply, all within ``timeout_s``; None if the worker
        had gone."""
        wire = self._wire
        assert wire is not None
        frames: list = [encode_json(header)]
        if image is not None:
            frames.append(np.ascontiguousarray(image) if isinstance(image, np.ndarray)
                          else image)
        deadline = time.monotonic() + timeout_s
        try:
            wire.send(*frames, timeout_s=timeout_s)
            return wire.recv_json(MAX_REPLY, timeout_s=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            self._kill()
            raise VisionTimeout(f"vision: the worker took more than {timeout_s:g} s for "
                                f"{header['op']!r}; killed") from None
        except (EOFError, BrokenPipeError, ConnectionResetError):
            return None
        except (ConnectionError, ValueError) as exc:
            self._kill()
            raise DriverError(f"vision: the worker broke the protocol ({exc}); killed") \
                from None

    def _stop(self) -> None:
        """Ask the worker to exit, then reap it (killed if it does not exit within 5 s)."""
        if self._wire is not None and self.worker_pid is not None:
            try:
                self._wire.send_json({"op": "stop"}, timeout_s=1.0)
            except (OSError, TimeoutError):
                pass  # already gone or stuck: _reap kills it
        self._reap()

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        self._reap()

    def _reap(self) -> int | None:
        """Forget the worker (joining it, killing it if it does not exit within 5 s); its exit
        code, or None if there was none."""
        process, wire = self._process, self._wire
        self._process, self._wire = None, None
        if wire is not None:
            wire.close()
        if process is None:
            return None
        try:
            return process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def _checked(image: Image, *, grey: bool) -> np.ndarray | bytes:
    if isinstance(image, np.ndarray):
        check_array(image, grey=grey)
        return image
    check_encoded(image)
    return bytes(image)


def _image_spec(image: np.ndarray | bytes) -> dict:
    if isinstance(image, np.ndarray):
        h, w = image.shape[:2]
        return {"kind": "raw", "height": h, "width": w,
                "channels": 1 if image.ndim == 2 else 3}
    return {"kind": "encoded"}


def _result(reply: dict, op: str) -> dict:
    if reply.get("ok") is True and isinstance(reply.get("result"), dict):
        return reply["result"]
    message = str(reply.get("message", reply))
    error = reply.get("error")
    if error == "missing":
        raise DeviceMissingError(f"vision: {message}")
    if error == "bad_image":
        raise BadDriverArgument(f"vision: {message}")
    raise DriverError(f"vision: the worker failed on {op!r}: {message}")


def _check_seconds(name: str, value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) \
            or not 0 < value <= 3600:
        raise BadDriverArgument(f"{name}={value!r}: must be seconds, 0 < s <= 3600")
    return float(value)
