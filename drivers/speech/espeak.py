"""Spoken prompts: espeak-ng renders text to a WAV once; the WAV is cached on disk.

A prompt is rendered by ``espeak-ng -v VOICE -s WPM -w FILE -- TEXT`` (16-bit mono PCM WAV,
22050 Hz with the stock voices). The cache file is named by the SHA-256 of (text, voice,
speed, espeak-ng version), so a new espeak-ng or a new speed gives a new file and an old file
is never played for the wrong text. Files are written to a temporary name in the cache
directory, fsynced and renamed into place, so a power cut leaves either the whole WAV or none.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import wave
from pathlib import Path

from drivers.clock import Clock
from drivers.errors import BadDriverArgument, DeviceMissingError, DriverError

MIN_WPM = 80
MAX_WPM = 450


def text_hash(text: str) -> str:
    """SHA-256 (hex) of the prompt text alone, UTF-8: what a script step says, for the record."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Speech:
    """Renders prompts to cached WAVs under ``cache_dir`` (see the module docstring).

    ``clock`` (optional) times the renders for :attr:`render_ns`; ``executable`` is the
    espeak-ng program (a name looked up on PATH, or a path). Thread-safe.
    """

    def __init__(self, cache_dir: Path | str, voice: str = "cmn", words_per_minute: int = 160,
                 clock: Clock | None = None, *, executable: str = "espeak-ng",
                 timeout_s: float = 60.0) -> None:
        if not isinstance(words_per_minute, int) or not MIN_WPM <= words_per_minute <= MAX_WPM:
            raise BadDriverArgument(f"words_per_minute={words_per_minute!r}: must be an "
                                    f"integer {MIN_WPM}..{MAX_WPM}")
        if not voice or not isinstance(voice, str) or voice.startswith("-"):
            raise BadDriverArgument(f"voice={voice!r}: must be an espeak-ng voice name "
                                    "such as 'cmn'")
        self.cache_dir = Path(cache_dir)
        self.voice = voice
        self.words_per_minute = words_per_minute
        self._clock = clock
        self._executable = executable
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._program: str | None = None
        self._version: str | None = None
        self.renders = 0
        self.cache_hits = 0
        self.render_ns = 0

    # -- what a prompt is called ---------------------------------------------------------------
    @property
    def version(self) -> str:
        """espeak-ng's version string (``espeak-ng --version``, asked once)."""
        with self._lock:
            if self._version is None:
                output = self._call([self._find(), "--version"]).stdout
                words = output.decode("utf-8", "replace").split()
                self._version = next((w for w in words if w[:1].isdigit()), output.strip()
                                     .decode("utf-8", "replace") or "unknown")
            return self._version

    def cache_key(self, text: str) -> str:
        """SHA-256 (hex) of (text, voice, speed, espeak-ng version): the cache file's name."""
        _check_text(text)
        identity = json.dumps(["dualrec-speech-1", text, self.voice, self.words_per_minute,
                               self.version], ensure_ascii=False)
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()

    def text_hash(self, text: str) -> str:
        """SHA-256 (hex) of the text alone; see :func:`text_hash`."""
        return text_hash(text)

    def path_for(self, text: str) -> Path:
        """Where the WAV of ``text`` is (or will be) cached."""
        return self.cache_dir / f"{self.cache_key(text)}.wav"

    # -- rendering -----------------------------------------------------------------------------
    def render(self, text: str) -> Path:
        """The path of a WAV speaking ``text``; runs espeak-ng only if it is not cached."""
        path = self.path_for(text)
        if path.is_file():
            with self._lock:
                self.cache_hits += 1
            return path
        started = self._now_ns()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.cache_dir, prefix=".render-", suffix=".wav")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            self._call([self._find(), "-v", self.voice, "-s", str(self.words_per_minute),
                        "-w", str(tmp), "--", text])
            _check_wav(tmp, text)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.cache_dir)
        with self._lock:
            self.renders += 1
            self.render_ns += self._now_ns() - started
        return path

    def _now_ns(self) -> int:
        return self._clock.monotonic_ns() if self._clock else time.monotonic_ns()

    def _find(self) -> str:
        if self._program is None:
            program = shutil.which(self._executable)
            if program is None:
                raise DeviceMissingError(
                    f"speech: {self._executable!r} (espeak-ng) is not installed or not on "
                    "PATH; install it with 'apt install espeak-ng'")
            self._program = program
        return self._program

    def _call(self, argv: list[str]) -> subprocess.CompletedProcess:
        try:
            result = subprocess.run(argv, capture_output=True, timeout=self._timeout_s,
                                    check=False)
        except subprocess.TimeoutExpired:
            raise DriverError(f"speech: espeak-ng took more than {self._timeout_s} s: "
                              f"{argv[1:-1]}") from None
        if result.returncode != 0:
            message = result.stderr.decode("utf-8", "replace").strip()
            if "voice does not exist" in message:
                raise BadDriverArgument(f"voice={self.voice!r}: espeak-ng has no such voice "
                                        "(list them with 'espeak-ng --voices')")
            raise DriverError(f"speech: espeak-ng exited with {result.returncode}: {message}")
        return result


def _check_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise BadDriverArgument(f"text={text!r}: must be a non-empty string")
    if "\0" in text:
        raise BadDriverArgument("text: must not contain NUL characters")


def _check_wav(path: Path, text: str) -> None:
    try:
        with wave.open(str(path), "rb") as wav:
            frames = wav.getnframes()
    except (wave.Error, EOFError) as exc:
        raise DriverError(f"speech: espeak-ng wrote no valid WAV for {text[:40]!r}: "
                          f"{exc}") from None
    if frames == 0:
        raise DriverError(f"speech: espeak-ng wrote an empty WAV for {text[:40]!r}")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
