"""The files the speech recogniser needs, where they live under the models directory, and what
they must be (size and SHA-256, pinned here and nowhere else).

Layout under ``model_dir`` (written by ``python -m provisioning.models install``)::

    whisper-base/model.bin        Whisper-base converted for CTranslate2 (float16 weights,
                                  run as int8), 145,217,532 bytes
    whisper-base/config.json      the decoder's settings (alignment heads, suppressed tokens)
    whisper-base/tokenizer.json   the multilingual byte-level BPE tokenizer
    whisper-base/vocabulary.txt   CTranslate2's vocabulary

All four must be there: without ``tokenizer.json`` faster-whisper would try to fetch one from
the Hugging Face hub at run time. Hashing them costs one read of 148 MB (about 0.3 s here); the
recogniser's worker does it once, before its first load, never the daemon.
"""
from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from drivers.errors import DeviceMissingError
from drivers.speech.kokoro_assets import file_problem

SUBDIR = "whisper-base"
MODEL_FILE = "model.bin"
MODEL_BYTES = 145_217_532
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"

# name: (size in bytes, SHA-256)
FILES: Mapping[str, tuple[int, str]] = MappingProxyType({
    MODEL_FILE: (MODEL_BYTES, MODEL_SHA256),
    "config.json": (2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    "tokenizer.json": (2_203_239,
                       "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
    "vocabulary.txt": (459_861,
                       "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
})


def install_hint(model_dir: Path | str) -> str:
    """The command that installs the recogniser's files into ``model_dir``."""
    return f"install it with 'python -m provisioning.models install --dir {model_dir} " \
           "--only whisper'"


def home(model_dir: Path | str) -> Path:
    """The directory faster-whisper loads: ``model_dir/whisper-base``."""
    return Path(model_dir) / SUBDIR


def missing_file(model_dir: Path | str) -> Path | None:
    """The first of the files that is absent (a cheap check: no hashing), or None."""
    for name in FILES:
        path = home(model_dir) / name
        if not path.is_file():
            return path
    return None


def verify(model_dir: Path | str) -> None:
    """Check that each file is present, a regular file of the pinned size and SHA-256; raise
    :class:`DeviceMissingError` naming the first file at fault, the expected SHA-256 and the
    install command."""
    for name, (size, sha256) in FILES.items():
        path = home(model_dir) / name
        problem = file_problem(path, size, sha256)
        if problem:
            raise DeviceMissingError(f"speech recognition: {path}: {problem}; expected {size} "
                                     f"bytes with SHA-256 {sha256}; {install_hint(model_dir)}")
