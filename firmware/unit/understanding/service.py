"""Speech understanding for the daemon, done in a worker process: the customer's answers
(transcribed and classified) and the salesperson's words (transcribed, phrases found).

The daemon's memory budget (150 MB) has no room for the pinyin tables (about 70 MB) or the
recogniser, so :class:`Understanding` starts :mod:`~firmware.unit.understanding.service_worker`
when asked, which in turn runs the Whisper worker of :mod:`drivers.speech.recognizer`; both
exit when idle and give their memory back. One request at a time (thread-safe); every call is
bounded by ``timeout_s``, and a worker that overruns is killed, not waited for.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Mapping, Sequence

import firmware
from drivers.speech.recognizer import Recognizer
from firmware.errors import DualrecError
from firmware.unit.understanding.service_worker import ServiceConfig

log = logging.getLogger(__name__)

_WORKER_MAIN = ("import sys; from firmware.unit.understanding.service_worker import main; "
                "main(sys.argv[1:])")


class UnderstandingError(DualrecError, RuntimeError):
    """The understanding worker failed on a request, or died, or took too long."""


class RecogniserUnavailable(UnderstandingError):
    """The speech recogniser cannot load (model or libraries missing): nothing is understood
    until it is repaired; the message names what is missing."""


@dataclass(frozen=True)
class Heard:
    """What the recogniser heard: segments in seconds from the start of the audio given,
    ``recognise_s`` the recogniser's own wall time, ``worker_s`` the request in the worker
    (conversion included), ``meaning``/``word`` for answers only."""

    text: str
    segments: tuple[tuple[float, float, str], ...]
    audio_s: float
    recognise_s: float
    cpu_s: float
    worker_s: float
    meaning: str | None = None
    word: str | None = None

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any]) -> Heard:
        return cls(str(reply["text"]), tuple((float(s), float(e), str(t))
                                             for s, e, t in reply["segments"]),
                   float(reply["audio_s"]), float(reply["recognise_s"]), float(reply["cpu_s"]),
                   float(reply["worker_s"]), reply.get("meaning"), reply.get("word"))


class Understanding:
    """The understanding worker's owner (see the module docstring); a context manager."""

    def __init__(self, model_dir: Path | str, *, idle_s: float = 60.0,
                 recognizer_idle_s: float = 60.0, timeout_s: float = 120.0,
                 max_seconds: float = 60.0) -> None:
        self.model_dir = Path(model_dir)
        self._config = ServiceConfig(str(self.model_dir), float(idle_s), float(recognizer_idle_s),
                                     float(timeout_s) - 10.0, float(max_seconds))
        self.timeout_s = float(timeout_s)
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._closed = False

    def check(self) -> None:
        """The self-test: the recogniser's libraries and pinned model files are there
        (DeviceMissingError naming what is not). Nothing is loaded in this process."""
        Recognizer(self.model_dir).check()

    def prepare(self) -> None:
        """Start the worker and the recogniser's model load, so that an answer about to be
        spoken is understood without waiting for them."""
        self._request(("warm",))

    def answer(self, pcm: bytes, rate: int, channels: int,
               lists: Mapping[str, Sequence[str]]) -> Heard:
        """The customer's answer in ``pcm`` (16-bit interleaved at ``rate``) heard and judged
        by ``lists`` (firmware.unit.understanding.answers.WordLists)."""
        return Heard.from_reply(self._request(("answer", bytes(pcm), int(rate), int(channels),
                                               {k: tuple(v) for k, v in lists.items()})))

    def transcribe(self, pcm: bytes, rate: int, channels: int) -> Heard:
        return Heard.from_reply(self._request(("transcribe", bytes(pcm), int(rate),
                                               int(channels))))

    def find_phrases(self, segments: Sequence[tuple[float, float, str]],
                     phrases: Sequence[str]) -> list[tuple[str, float, float]]:
        """``find_phrases`` of :mod:`~firmware.unit.understanding.phrases`, in the worker."""
        if not phrases:
            return []
        reply = self._request(("phrases", [tuple(s) for s in segments], list(phrases)))
        return [(str(p), float(s), float(e)) for p, s, e in reply]

    @property
    def worker_pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def abort(self) -> None:
        """Kill the worker now, from any thread, even while a request waits on it (that
        request then fails with UnderstandingError): for a quick stop of the daemon."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def release(self) -> None:
        """Stop the worker now (and with it the recogniser's), giving their memory back."""
        with self._lock:
            self._stop()

    def close(self) -> None:
        """Stop the worker; safe twice."""
        with self._lock:
            self._closed = True
            self._stop()

    def __enter__(self) -> Understanding:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the worker ------------------------------------------------------------------------
    def _request(self, message: tuple) -> Any:
        with self._lock:
            if self._closed:
                raise UnderstandingError("the understanding worker is closed")
            for attempt in (1, 2):
                self._start_if_needed()
                try:
                    self._conn.send(message)
                    if not self._conn.poll(self.timeout_s):
                        self._kill()
                        raise UnderstandingError(f"speech understanding took longer than "
                                                 f"{self.timeout_s:g} s; its worker was stopped")
                    reply = self._conn.recv()
                except (EOFError, BrokenPipeError, ConnectionResetError):
                    exitcode = self._reap()
                    if exitcode == 0 and attempt == 1:
                        continue                # it left on its idle timer as we sent: again
                    raise UnderstandingError(f"the understanding worker died (exit code "
                                             f"{exitcode}); the next request restarts it") \
                        from None
                break
        if reply[0] == "unavailable":
            raise RecogniserUnavailable(f"speech recognition is unavailable: {reply[1]}")
        if reply[0] != "ok":
            raise UnderstandingError(f"speech understanding failed: {reply[1]}")
        return reply[1]

    def _start_if_needed(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._reap()
        ours, theirs = socket.socketpair()
        root = str(Path(firmware.__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p))
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_MAIN, "--fd", str(theirs.fileno()),
                 "--config", self._config.to_json()],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env)
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self._process, self._conn = process, Connection(ours.detach())

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()            # busy: it would not read a "stop"
        self._reap()

    def _stop(self) -> None:
        process, conn = self._process, self._conn
        if process is None:
            return
        if process.poll() is None and conn is not None:
            try:
                conn.send(("stop",))
            except OSError:
                pass                        # already gone: nothing to tell
        self._reap()

    def _reap(self) -> int | None:
        process, conn = self._process, self._conn
        self._process, self._conn = None, None
        if conn is not None:
            conn.close()
        if process is None:
            return None
        try:
            return process.wait(15.0)       # it stops its own recogniser worker first
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
