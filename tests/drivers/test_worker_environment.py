"""The model workers start with onnxruntime's telemetry off: the pinned onnxruntime writes a
device id and an event store under ``~/.cache/Microsoft`` and a ``.ses`` file in ``$TMPDIR`` at
import unless told not to (and has an HTTP client to send them); a worker's environment tells
it not to, and nothing is written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from drivers.worker_environment import PACKAGE_ROOT, worker_environment

#: onnxruntime keeps its telemetry off by itself where one of these says it runs in CI (the
#: names are in its library); a unit in the field has none of them
CI_VARIABLES = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS",
                "JENKINS_URL", "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION",
                "APPVEYOR", "BITBUCKET_BUILD_NUMBER")


def _import_onnxruntime(tmp_path: Path, environment: dict[str, str]) -> list[str]:
    """Import onnxruntime in a process whose home and TMPDIR are empty directories of the
    test; the files it left there."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    done = subprocess.run([sys.executable, "-c", "import onnxruntime"], timeout=120,
                          env={**environment, "HOME": str(home), "TMPDIR": str(tmp)},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())


def test_onnxruntime_left_to_itself_writes_its_telemetry_files(tmp_path):
    """As on a unit: no ORT_DISABLE_TELEMETRY, and not in CI."""
    environment = {k: v for k, v in worker_environment().items()
                   if k != "ORT_DISABLE_TELEMETRY" and k not in CI_VARIABLES}
    left = _import_onnxruntime(tmp_path, environment)
    assert "tmp/.ses" in left, ("the pinned onnxruntime no longer writes telemetry files at "
                                f"import ({left}): check drivers/worker_environment.py")


def test_a_workers_environment_keeps_onnxruntime_quiet(tmp_path):
    environment = {k: v for k, v in worker_environment().items() if k not in CI_VARIABLES}
    assert environment["ORT_DISABLE_TELEMETRY"] == "1"
    assert environment["HF_HUB_OFFLINE"] == "1"
    assert environment["PYTHONPATH"].split(":")[0] == PACKAGE_ROOT
    assert _import_onnxruntime(tmp_path, environment) == []
