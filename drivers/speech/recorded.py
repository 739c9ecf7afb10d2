"""Recorded prompts: audio an insurer recorded for fixed wording, played instead of synthesis.

Two sources, looked up in this order:

* ``files``: a mapping given in, text → WAV path (e.g. from a template that names its
  recordings);
* ``directory``: WAV files named by the SHA-256 (hex, lower case) of the exact text,
  ``<sha256>.wav``.

``pins`` (text → SHA-256 of the audio file) pins a recording: a file whose bytes differ is
refused, never played, and a pinned text must have its recording (a script template's
``recording`` key pins its node's prompt). A recording that is present but unusable (not a
regular file, not a PCM WAV, empty, longer than 10 minutes, or not its pin), or a pinned one
that is missing, raises :class:`DriverError` naming the file: an insurer's approved recording
is not silently replaced by synthesis. A text with neither recording nor pin gives None and is
synthesised. :meth:`RecordedPrompts.pinned_problems` checks every pinned recording at once (at
start, before any session needs one).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Mapping

from drivers.errors import BadDriverArgument, DriverError
from drivers.speech.prompt_files import sha256_file, text_hash, wav_seconds

MAX_RECORDED_BYTES = 64 * 1024 * 1024


class RecordedPrompts:
    """Read-only lookups of recorded prompt audio; thread-safe (no state changes)."""

    def __init__(self, directory: Path | str | None = None,
                 files: Mapping[str, Path | str] | None = None, *,
                 pins: Mapping[str, str] | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self._files = {text: Path(path) for text, path in (files or {}).items()}
        self._pins = dict(pins or {})
        for text, pin in self._pins.items():
            if not (isinstance(pin, str) and len(pin) == 64
                    and all(c in "0123456789abcdef" for c in pin)):
                raise BadDriverArgument(f"pins[{text[:20]!r}]={pin!r}: must be a lower-case "
                                        "hex SHA-256")

    def lookup(self, text: str) -> Path | None:
        """The recording of ``text``, checked; None if there is none."""
        path = self._files.get(text)
        if path is None and self.directory is not None:
            candidate = self.directory / f"{text_hash(text)}.wav"
            if os.path.lexists(candidate):
                path = candidate
        if path is None:
            pin = self._pins.get(text)
            if pin is not None:
                where = (f"{self.directory / (text_hash(text) + '.wav')}"
                         if self.directory is not None else "a recordings directory")
                raise DriverError(f"speech: the recording of {text[:20]!r}… is pinned (SHA-256 "
                                  f"{pin}) but there is none: install the approved recording "
                                  f"as {where}")
            return None
        _check_file(path)
        wav_seconds(path)
        pin = self._pins.get(text)
        if pin is not None:
            actual = sha256_file(path)
            if actual != pin:
                raise DriverError(f"speech: recorded prompt {path} has SHA-256 {actual}, "
                                  f"but its pin is {pin}; replace the file with the approved "
                                  "recording")
        return path

    @property
    def pins(self) -> dict[str, str]:
        """Text → SHA-256 of its pinned recording (a copy)."""
        return dict(self._pins)

    def pinned_problems(self) -> dict[str, str]:
        """Every pinned recording looked up now: text → what is wrong with its recording
        (empty when all are usable and match their pins)."""
        problems = {}
        for text in self._pins:
            try:
                self.lookup(text)
            except DriverError as exc:
                problems[text] = str(exc)
        return problems

    def __len__(self) -> int:
        """How many recordings were given by name (the directory is not counted)."""
        return len(self._files)


def _check_file(path: Path) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise DriverError(f"speech: recorded prompt {path} is missing; install it or remove "
                          "it from the recordings") from None
    if not stat.S_ISREG(info.st_mode):
        raise DriverError(f"speech: recorded prompt {path} is not a regular file (symlinks "
                          "are not followed)")
    if info.st_size > MAX_RECORDED_BYTES:
        raise DriverError(f"speech: recorded prompt {path} has {info.st_size} bytes; at most "
                          f"{MAX_RECORDED_BYTES} are accepted")

