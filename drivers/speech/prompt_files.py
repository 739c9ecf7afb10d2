"""Prompt audio on disk: what a prompt's text may be, how a rendered WAV is checked, and how it
is put in place atomically (a temporary file in the same directory, fsync, rename, fsync of the
directory), so a power cut leaves either the whole WAV or none."""
from __future__ import annotations

import hashlib
import os
import tempfile
import wave
from pathlib import Path

from drivers.errors import BadDriverArgument, DriverError

MAX_TEXT_CHARS = 2000        # a prompt is a few sentences; a ticket's clause is bounded too
MAX_WAV_SECONDS = 600        # what a prompt WAV may last (a recorded one is checked against it)


def text_hash(text: str) -> str:
    """SHA-256 (hex) of the prompt text alone, UTF-8: what a script step says, for the record."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_text(text: str) -> None:
    """Refuse what cannot be a prompt (BadDriverArgument naming ``text``)."""
    if not isinstance(text, str) or not text.strip():
        raise BadDriverArgument(f"text={text!r}: must be a non-empty string")
    if "\0" in text:
        raise BadDriverArgument("text: must not contain NUL characters")
    if len(text) > MAX_TEXT_CHARS:
        raise BadDriverArgument(f"text: {len(text)} characters; a prompt has at most "
                                f"{MAX_TEXT_CHARS} (split it into nodes)")


def wav_seconds(path: Path) -> float:
    """The duration of a PCM WAV; DriverError naming the file if it is not one, is empty, or
    is longer than :data:`MAX_WAV_SECONDS` (only the header is read)."""
    try:
        with wave.open(str(path), "rb") as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
            width, channels = wav.getsampwidth(), wav.getnchannels()
    except (wave.Error, EOFError, OSError) as exc:
        raise DriverError(f"speech: {path} is not a readable PCM WAV: {exc}") from None
    if frames == 0 or rate <= 0:
        raise DriverError(f"speech: {path} holds no audio")
    if width not in (1, 2, 3, 4) or not 1 <= channels <= 8:
        raise DriverError(f"speech: {path}: {channels} channels of {width} bytes is not "
                          "playable prompt audio")
    if frames / rate > MAX_WAV_SECONDS:
        raise DriverError(f"speech: {path} lasts {frames / rate:.0f} s; a prompt lasts at "
                          f"most {MAX_WAV_SECONDS} s")
    return frames / rate


def scratch_path(directory: Path) -> Path:
    """A new, empty temporary file in ``directory`` (created there so the rename is atomic);
    the caller removes it if it does not :func:`commit` it."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".render-", suffix=".wav")
    os.close(fd)
    return Path(name)


def commit(tmp: Path, path: Path) -> None:
    """fsync ``tmp``, rename it to ``path`` and fsync the directory."""
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_wav(path: Path, samples_le16: bytes, rate: int) -> None:
    """Write mono 16-bit little-endian PCM to ``path`` (overwriting it) and fsync it."""
    with open(path, "wb") as handle:
        with wave.open(handle, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(samples_le16)
        handle.flush()
        os.fsync(handle.fileno())


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
