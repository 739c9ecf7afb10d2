"""The environment the drivers' model workers (Kokoro synthesis, Whisper recognition, vision)
start with: the parent's, with the drivers' package root on ``PYTHONPATH``, and the libraries
they load told to stay off the network and off the disk.

- ``ORT_DISABLE_TELEMETRY=1``: onnxruntime 1.32 (Kokoro, the OCR, faster-whisper's VAD) starts
  Microsoft's 1DS telemetry at import unless told not to: it writes a device id and an SQLite
  event store under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` and a ``.ses`` file in
  ``$TMPDIR``, and has an HTTP client to send them (it stays quiet by itself only where a CI
  variable such as ``CI`` is set, which a unit never has). A unit that holds customers'
  evidence sends nothing to anyone its configuration does not name.
- ``HF_HUB_OFFLINE=1``: the Hugging Face hub (faster-whisper) never downloads; the models are
  local, pinned files.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
QUIET = {"ORT_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}


def worker_environment() -> dict[str, str]:
    """A copy of this process's environment for a worker (see the module docstring)."""
    environment = {**os.environ, **QUIET}
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (PACKAGE_ROOT, environment.get("PYTHONPATH", "")) if p)
    return environment
