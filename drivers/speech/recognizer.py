"""Speech in: Mandarin speech to simplified Chinese text, on the device, in a worker process.

Whisper-base (faster-whisper on CTranslate2, int8, CPU) runs in a child process of its own
(see :mod:`drivers.speech.recognizer_worker`): the daemon never imports the model's
libraries, and the worker exits after ``idle_s`` seconds without a request, so its memory goes
back to the system while the unit records. Call :meth:`Recognizer.prepare` when an answer is
about to be spoken (while the prompt plays) so the model is loaded before the answer ends.

Input is 16 kHz mono signed 16-bit PCM: a numpy ``int16`` array, or the path of such a WAV
file (:func:`drivers.speech.pcm.pcm16k` converts other rates and float samples). Requests are
bounded to ``max_seconds`` of audio and every call to ``timeout_s``; a worker that overruns is
killed, not waited for.
Times in results are seconds from the start of the given audio; ``wall_s`` is measured with
``time.monotonic`` around the request, so for a warm worker it is the time from handing over
the answer's audio to having its text.
"""
from __future__ import annotations

import importlib.metadata
import logging
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from drivers.errors import BadDriverArgument, DeviceLostError, DeviceMissingError, DriverError
from drivers.speech import whisper_assets
from drivers.speech.pcm import SAMPLE_RATE, read_wav16k
from drivers.speech.recognizer_worker import WorkerConfig
from drivers.worker_environment import worker_environment

log = logging.getLogger(__name__)

LIBRARIES = ("faster-whisper", "ctranslate2", "zhconv")
REQUIREMENTS = "faster-whisper==1.2.1 zhconv==1.4.3"

# -c rather than -m: this module imports the worker module (for its protocol), and runpy would
# then run a second copy of it as __main__
_WORKER_MAIN = ("import sys; from drivers.speech.recognizer_worker import main; "
                "main(sys.argv[1:])")

# A prompt in simplified Mandarin steers Whisper towards simplified characters and punctuated
# sentences. It is context, not a list of expected words (it must not make the recogniser hear
# "同意" in noise); giving it the node's question instead was measured worse: Whisper-base then
# repeats the question ("请问您…") in place of short answers.
DEFAULT_PROMPT = "以下是普通话的句子。"


class RecognitionTimeout(DriverError, TimeoutError):
    """The recogniser did not answer in time; its worker was killed (the next call restarts it)."""


@dataclass(frozen=True)
class RecognitionOptions:
    """How Whisper decodes. Language is always Mandarin (``zh``).

    ``beam_size`` 5 is Whisper's own default and what the benchmarks measured; ``vad`` drops
    silence before decoding (Silero VAD, shipped in faster-whisper) so that silence gives no
    text instead of Whisper's invented subtitles; ``temperatures`` are the fallbacks tried when
    a decode looks bad: 0.0 first (deterministic), then sampling at 0.2 and 0.4 only when the
    greedy decode is a repetition loop (compression ratio over 2.4, faster-whisper's default) or
    unsure (average log-probability under -1): "同意同意同意…" for a customer's single 同意
    was heard in one answer of three in the demo's happy scenario without them. ``encoder_min_s``: the
    encoder sees a window's audio plus 1 s, at least this many seconds, instead of Whisper's
    fixed 30 s (a short answer costs about a quarter of the CPU; None: always 30 s).
    """

    beam_size: int = 5
    initial_prompt: str | None = DEFAULT_PROMPT
    vad: bool = True
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4)
    encoder_min_s: float | None = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.beam_size, int) or not 1 <= self.beam_size <= 10:
            raise BadDriverArgument(f"beam_size={self.beam_size!r}: must be an integer 1..10")
        if not self.temperatures or any(not 0.0 <= t <= 1.0 for t in self.temperatures):
            raise BadDriverArgument(f"temperatures={self.temperatures!r}: must be one or "
                                    "more values 0.0..1.0")
        if self.encoder_min_s is not None and not 1.0 <= self.encoder_min_s <= 30.0:
            raise BadDriverArgument(f"encoder_min_s={self.encoder_min_s!r}: must be None or "
                                    "1..30 seconds")


@dataclass(frozen=True)
class TranscriptSegment:
    """One stretch of recognised speech: seconds from the start of the audio, simplified text."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Transcript:
    """What was heard. ``wall_s`` covers the whole request (worker already loaded);
    ``compute_s`` the decoding alone, ``cpu_s`` the CPU time it took (all threads: a figure a
    busy machine does not inflate); ``worker_peak_rss_bytes`` the worker's high-water mark."""

    text: str
    segments: tuple[TranscriptSegment, ...]
    audio_s: float
    wall_s: float
    compute_s: float
    cpu_s: float
    worker_peak_rss_bytes: int

    @property
    def real_time_factor(self) -> float:
        """Wall time over audio duration (below 1: faster than real time)."""
        return self.wall_s / self.audio_s if self.audio_s > 0 else 0.0


class Recognizer:
    """Transcribes Mandarin; one request at a time (thread-safe); a context manager.

    ``model_dir`` is the models directory: ``python -m provisioning.models install`` puts
    Whisper-base in its ``whisper-base/`` (see :mod:`drivers.speech.whisper_assets`). The
    worker checks every file's size and pinned SHA-256 before its first load (about 0.3 s
    here, in the worker). A missing, corrupt or unloadable model raises
    :class:`DeviceMissingError` naming the file.
    """

    def __init__(self, model_dir: Path | str, options: RecognitionOptions | None = None, *,
                 max_seconds: float = 120.0,
                 timeout_s: float = 60.0, load_timeout_s: float = 120.0, idle_s: float = 60.0,
                 cpu_threads: int = 2) -> None:
        for name, value in (("max_seconds", max_seconds), ("timeout_s", timeout_s),
                            ("load_timeout_s", load_timeout_s), ("idle_s", idle_s)):
            if not isinstance(value, (int, float)) or not value > 0:
                raise BadDriverArgument(f"{name}={value!r}: must be a positive number of seconds")
        if not isinstance(cpu_threads, int) or not 1 <= cpu_threads <= 16:
            raise BadDriverArgument(f"cpu_threads={cpu_threads!r}: must be an integer 1..16")
        self.model_dir = Path(model_dir)
        self.options = options or RecognitionOptions()
        self.max_seconds = float(max_seconds)
        self.timeout_s = float(timeout_s)
        self.load_timeout_s = float(load_timeout_s)
        self._idle_s = float(idle_s)
        self._cpu_threads = cpu_threads
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._ready = False
        self._verified = False
        self._closed = False
        self.load_s: float | None = None          # the last worker's model load time

    # -- life cycle ------------------------------------------------------------------------
    def check(self) -> None:
        """The self-test: the libraries are installed and every model file is the pinned one
        (hashes read here, in this process, about 0.3 s; nothing is loaded).
        DeviceMissingError naming what is wrong."""
        for package in LIBRARIES:
            try:
                importlib.metadata.version(package)
            except importlib.metadata.PackageNotFoundError:
                raise DeviceMissingError(
                    f"speech recognition needs the Python package {package!r}, which is not "
                    f"installed; install with 'pip install {REQUIREMENTS}'") from None
        whisper_assets.verify(self.model_dir)

    def prepare(self) -> None:
        """Start the worker (and its model load) now if it is not running; returns at once."""
        with self._lock:
            self._check_open()
            self._start_if_needed()

    def release(self) -> None:
        """Stop the worker now, giving its memory back (the next request starts a new one)."""
        with self._lock:
            self._stop()

    def wait_released(self, timeout_s: float) -> bool:
        """Wait until no worker runs (idle exit or :meth:`release`); True if none runs."""
        process = self._process
        if process is None:
            return True
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    @property
    def worker_pid(self) -> int | None:
        """The running worker's process id, or None."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def close(self) -> None:
        """Stop the worker; safe to call twice."""
        with self._lock:
            self._closed = True
            self._stop()

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- recognition -----------------------------------------------------------------------
    def transcribe(self, audio: np.ndarray | Path | str, *,
                   timeout_s: float | None = None) -> Transcript:
        """Mandarin speech in ``audio`` (16 kHz mono int16, or a WAV path) to simplified text."""
        pcm = self._pcm_bytes(audio)
        timeout = self.timeout_s if timeout_s is None else float(timeout_s)
        with self._lock:
            self._check_open()
            for attempt in (1, 2):
                self._start_if_needed()
                self._wait_ready()
                started = time.monotonic()
                try:
                    self._conn.send(("transcribe", pcm))
                    reply = self._receive(timeout, "transcribing")
                except (EOFError, BrokenPipeError, ConnectionResetError):
                    exitcode = self._reap()
                    if exitcode == 0 and attempt == 1:
                        continue                # it left on its idle timer as we sent: again
                    raise DeviceLostError(f"speech recogniser worker died while transcribing "
                                          f"(exit code {exitcode}); the next call restarts "
                                          "it") from None
                wall_s = time.monotonic() - started
                break
        if reply[0] == "error":
            raise DriverError(f"speech recogniser failed on this audio: {reply[1]}")
        result = reply[1]
        segments = tuple(TranscriptSegment(s, e, t) for s, e, t in result["segments"])
        log.debug("recognised %.2f s of audio in %.2f s (real-time factor %.2f, %.2f CPU-s)",
                  result["audio_s"], wall_s, wall_s / max(result["audio_s"], 1e-9),
                  result["cpu_s"])
        return Transcript(text=_join(t.text for t in segments), segments=segments,
                          audio_s=result["audio_s"], wall_s=wall_s,
                          compute_s=result["compute_s"], cpu_s=result["cpu_s"],
                          worker_peak_rss_bytes=result["peak_rss_bytes"])

    # -- the worker ------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise DriverError("the speech recogniser is closed; make a new Recognizer")

    def _start_if_needed(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._reap()
        missing = whisper_assets.missing_file(self.model_dir)
        if missing is not None:                # say so here, before paying for a process
            raise DeviceMissingError(f"speech recognition: {missing}: missing; "
                                     f"{whisper_assets.install_hint(self.model_dir)}")
        config = WorkerConfig(
            model_dir=str(self.model_dir), verify=not self._verified,
            cpu_threads=self._cpu_threads, idle_s=self._idle_s,
            beam_size=self.options.beam_size, initial_prompt=self.options.initial_prompt,
            vad=self.options.vad, temperatures=tuple(self.options.temperatures),
            encoder_min_s=self.options.encoder_min_s)
        ours, theirs = socket.socketpair()
        env = worker_environment()
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_MAIN,
                 "--fd", str(theirs.fileno()), "--config", config.to_json()],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env)
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self._process, self._conn, self._ready = process, Connection(ours.detach()), False

    def _wait_ready(self) -> None:
        if self._ready:
            return
        try:
            reply = self._receive(self.load_timeout_s, "loading the model")
        except EOFError:
            exitcode = self._reap()
            raise DeviceLostError(f"speech recogniser worker died while loading the model "
                                  f"(exit code {exitcode})") from None
        if reply[0] == "unusable":
            self._reap()
            raise DeviceMissingError(reply[1])
        self._ready, self._verified = True, True
        self.load_s = reply[1]["load_s"]

    def _receive(self, timeout_s: float, doing: str) -> tuple:
        if not self._conn.poll(timeout_s):
            if self._process is not None:
                self._process.kill()            # busy: it would not read a "stop"
            self._reap()
            raise RecognitionTimeout(f"speech recogniser took longer than {timeout_s:g} s "
                                     f"{doing}; its worker was stopped")
        return self._conn.recv()

    def _stop(self) -> None:
        process, conn = self._process, self._conn
        if process is None:
            return
        if process.poll() is None and conn is not None:
            try:
                conn.send(("stop",))
            except OSError:
                pass                            # it is already gone: nothing to tell
        self._reap()

    def _reap(self) -> int | None:
        """Forget the worker, waiting for it to end; its exit code, or None if there was none."""
        process, conn = self._process, self._conn
        self._process, self._conn, self._ready = None, None, False
        if conn is not None:
            conn.close()                        # a waiting worker sees EOF and leaves
        if process is None:
            return None
        try:
            return process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def _pcm_bytes(self, audio: np.ndarray | Path | str) -> bytes:
        limit = int(self.max_seconds * SAMPLE_RATE)
        if isinstance(audio, (str, Path)):
            return read_wav16k(Path(audio), limit)
        if not isinstance(audio, np.ndarray) or audio.dtype != np.int16:
            raise BadDriverArgument(f"audio: expected a numpy int16 array or a WAV path, got "
                                    f"{type(audio).__name__} {getattr(audio, 'dtype', '')}; "
                                    "convert with drivers.speech.pcm.pcm16k")
        if audio.ndim == 2 and audio.shape[1] == 1:
            audio = audio[:, 0]
        if audio.ndim != 1:
            raise BadDriverArgument(f"audio: expected mono samples, got shape {audio.shape}")
        if len(audio) > limit:
            raise BadDriverArgument(f"audio: {len(audio) / SAMPLE_RATE:.1f} s is longer than "
                                    f"max_seconds={self.max_seconds:g}; split it")
        return audio.astype("<i2", copy=False).tobytes()


def _join(texts: object) -> str:
    """Segments' texts as one string: no space between Chinese, one between Latin words."""
    joined = ""
    for text in texts:
        if joined and joined[-1].isascii() and joined[-1].isalnum() and text[:1].isascii() \
                and text[:1].isalnum():
            joined += " "
        joined += text
    return joined
