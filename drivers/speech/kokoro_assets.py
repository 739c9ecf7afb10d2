"""The files the Kokoro voice needs, where they live under the models directory, and what they
must be (size and SHA-256, pinned here and nowhere else).

Layout under ``model_dir`` (written by ``python -m provisioning.models install``)::

    kokoro/kokoro-v1.0.int8.onnx     the Kokoro-82M v1.0 int8 ONNX export (92,361,271 bytes)
    kokoro/voices/<voice>.bin        one style table per voice: 510 x 256 float32, little-endian

A voice's table holds one 256-value style vector per input length: the row for a sequence of
*n* phoneme tokens is row *n - 1* (see :mod:`drivers.speech.kokoro_voice`).

Checking hashes costs one read of the files (about 0.2 s here); it is done by the synthesis
worker when it loads, and by :func:`verify` for the installer and the self-test, never in the
daemon's hot path. The cache of rendered prompts is keyed by :data:`MODEL_SHA256`, which the
worker guarantees the loaded model matches.
"""
from __future__ import annotations

import re
import stat
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

from drivers.errors import BadDriverArgument, DeviceMissingError
from drivers.speech.prompt_files import sha256_file

SUBDIR = "kokoro"
MODEL_FILE = "kokoro-v1.0.int8.onnx"
MODEL_BYTES = 92_361_271
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"

VOICE_ROWS = 510            # one style row per sequence length 1..510
STYLE_WIDTH = 256
VOICE_BYTES = VOICE_ROWS * STYLE_WIDTH * 4
SAMPLE_RATE = 24_000        # Hz, what the model's decoder produces
MAX_TOKENS = VOICE_ROWS     # the model's context, without the two pads
CHUNK_TOKENS = 200          # default chunk of a long text (bounds the worker's memory)
MIN_SPEED, MAX_SPEED = 0.5, 2.0

# The Mandarin voices of kokoro-js 1.2.1 (npm), by SHA-256. zf_xiaoni is left out on purpose:
# its tones are wrong (a customer hears other words).
VOICES: Mapping[str, str] = MappingProxyType({
    "zf_xiaobei": "5dde6e1c9c4f12c8b327bc29c0cee361a23b52b952c04636858ba637ec66e640",
    "zf_xiaoxiao": "03adb5d5e3ddd88b047954e974e651cb0a4b524c985057e5d872e962c7be1169",
    "zf_xiaoyi": "bc1555c5c486099196ac254bae5e0bb543c121952a3092f50b7d8724f1bc36b3",
    "zm_yunjian": "de48a00bdbf3649f07162269a2b6e0513604389bfac8a2e6c75cb34b323ad6fa",
    "zm_yunxi": "7243892fb4e560d47014090ddf010f8b8b790f3c6b029ff82b2ac06aa4e27c8b",
    "zm_yunxia": "6b2b8fc15b3df19a368daebe5c581c7fabf433ee5b8a17ffd6b3d723cff8936d",
    "zm_yunyang": "261e2c89470534dbbcb8fd98b8fdc495ec94063d9bb6c8277f7be43cccba3f42",
})
# the clearest by Whisper-base round trip of the shipped prompts (0 of 431 toneless syllables
# wrong; zf_xiaoyi 2, zm_yunxi 1)
DEFAULT_VOICE = "zf_xiaoxiao"

_VOICE_NAME = re.compile(r"[a-z]{2}_[a-z]{1,32}")


def install_hint(model_dir: Path | str) -> str:
    """The command that installs the voice's files into ``model_dir``."""
    return f"install it with 'python -m provisioning.models install --dir {model_dir} " \
           "--only kokoro'"


def check_voice_name(voice: str) -> None:
    """Refuse a voice that is not one of the pinned Mandarin voices (BadDriverArgument)."""
    if not isinstance(voice, str) or voice not in VOICES:
        shown = voice if isinstance(voice, str) and _VOICE_NAME.fullmatch(voice) else repr(voice)
        raise BadDriverArgument(f"voice={shown}: not a pinned Mandarin Kokoro voice; "
                                f"use one of {', '.join(sorted(VOICES))}")


def model_path(model_dir: Path | str) -> Path:
    return Path(model_dir) / SUBDIR / MODEL_FILE


def voice_path(model_dir: Path | str, voice: str) -> Path:
    check_voice_name(voice)
    return Path(model_dir) / SUBDIR / "voices" / f"{voice}.bin"


def expected_files(model_dir: Path | str,
                   voices: Iterable[str]) -> list[tuple[Path, int, str]]:
    """(path, size in bytes, SHA-256) of the model and of each voice in ``voices``."""
    files = [(model_path(model_dir), MODEL_BYTES, MODEL_SHA256)]
    for voice in voices:
        files.append((voice_path(model_dir, voice), VOICE_BYTES, VOICES[voice]))
    return files


def verify(model_dir: Path | str, voices: Iterable[str]) -> None:
    """Check that the model and each voice are present, regular files of the pinned size and
    SHA-256; raise :class:`DeviceMissingError` naming the first file at fault, the expected
    SHA-256, and the install command."""
    for path, size, sha256 in expected_files(model_dir, voices):
        problem = file_problem(path, size, sha256)
        if problem:
            raise DeviceMissingError(f"speech: {path}: {problem}; expected {size} bytes with "
                                     f"SHA-256 {sha256}; {install_hint(model_dir)}")


def file_problem(path: Path, size: int, sha256: str) -> str | None:
    """Why ``path`` is not the pinned file, or None if it is (a symlink is followed: the
    models directory is written by the installer, not by users)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size != size:
        return f"has {info.st_size} bytes (corrupt or another version)"
    try:
        actual = sha256_file(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if actual != sha256:
        return f"has SHA-256 {actual} (corrupt or another version)"
    return None

