"""The unit files: what each must say, and that systemd itself accepts them."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
VENV_BIN = Path(sys.executable).parent
INSTALLED_BIN = "/opt/dualrec/venv/bin"   # install.sh's virtualenv

ALL_UNITS = ("dualrec.service", "dualrec-firstboot.service", "dualrec-verify.service",
             "dualrec-verify.timer", "dualrec-screen.service")
DEFAULTS = tomllib.loads((REPO / "config" / "default.toml").read_text())
CONFIG = "/etc/dualrec/dualrec.toml"


def words(values: list[str]) -> set[str]:
    return {word for value in values for word in value.split()}


def seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|min)?", value).groups()
    return float(number) * {"ms": 0.001, "s": 1, "min": 60, None: 1}[unit]


def test_every_unit_is_there_and_parses(unit):
    assert sorted(p.name for p in UNITS.iterdir()) == sorted(ALL_UNITS)
    for name in ALL_UNITS:
        sections = unit(name)
        assert "Unit" in sections and sections["Unit"]["Description"], name


def test_the_appliance_service(unit):
    s = unit("dualrec.service")["Service"]
    single = {key: values[-1] for key, values in s.items()}
    expected = {"Type": "notify", "NotifyAccess": "main", "Restart": "on-failure",
                "User": "dualrec", "StateDirectory": "dualrec", "RuntimeDirectory": "dualrec",
                "DevicePolicy": "closed", "ProtectSystem": "strict", "ProtectHome": "yes",
                "PrivateTmp": "yes", "NoNewPrivileges": "yes", "SystemCallArchitectures":
                "native", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
                "StandardOutput": "journal", "StandardError": "journal"}
    assert {k: single.get(k) for k in expected} == expected
    assert 10 <= seconds(single["WatchdogSec"]) <= 120
    assert s["ExecStartPre"] == [f"{INSTALLED_BIN}/dualrec run --config {CONFIG} "
                                 "--validate-config"]
    assert s["ExecStart"] == [f"{INSTALLED_BIN}/dualrec run --config {CONFIG}"]
    assert "MALLOC_ARENA_MAX=2" in s["Environment"]
    assert "ORT_DISABLE_TELEMETRY=1" in s["Environment"]
    assert words(s["SupplementaryGroups"]) == {"video", "audio", "gpio", "input"}
    assert {v.split()[0] for v in s["DeviceAllow"]} == {
        "char-video4linux", "char-media", "char-dma_heap", "char-gpiochip", "char-input",
        "char-alsa"}
    assert words(s["RestrictAddressFamilies"]) == {"AF_UNIX", "AF_INET", "AF_INET6",
                                                   "AF_NETLINK"}
    # The spool, the key and the speech cache are in the StateDirectory, the control socket in
    # the RuntimeDirectory: the only places ProtectSystem=strict leaves writable.
    state = "/var/lib/dualrec/"
    for key in (DEFAULTS["spool"]["path"], DEFAULTS["device"]["key_file"],
                DEFAULTS["speech"]["cache_dir"]):
        assert key.startswith(state), key
    assert DEFAULTS["control"]["socket"].startswith("/run/dualrec/")
    assert {"/var/lib/dualrec", "/run/dualrec"} <= words(s["ReadWritePaths"])
    # Options that would break the clock driver (adjtimex, /proc/sys/kernel/random/boot_id).
    assert single.get("ProtectClock", "no") == "no"
    assert single.get("ProcSubset", "all") == "all"
    assert {"adjtimex", "clock_adjtime"} <= words(s["SystemCallFilter"])
    unit_section = unit("dualrec.service")["Unit"]
    assert "dualrec-firstboot.service" in words(unit_section["After"])
    assert unit("dualrec.service")["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_first_boot_enrolment_runs_once_before_the_appliance(unit):
    u = unit("dualrec-firstboot.service")
    conditions = u["Unit"]["ConditionPathExists"]
    assert f"!{DEFAULTS['device']['key_file']}" in conditions   # not once the unit has a key
    assert "/etc/dualrec/enroll.env" in conditions             # and only when told how
    assert "dualrec.service" in words(u["Unit"]["Before"])
    s = u["Service"]
    assert s["Type"] == ["oneshot"] and s["EnvironmentFile"] == ["/etc/dualrec/enroll.env"]
    command = shlex.split(s["ExecStart"][0])
    assert command[:3] == [f"{INSTALLED_BIN}/dualrec-provision", "device", "enroll"]
    assert "$ENROLL_ARGS" in command
    assert "dualrec-provision=provisioning.cli:main" in (REPO / "setup.py").read_text()
    example = (REPO / "provisioning" / "raspberry-pi" / "enroll.env.example").read_text()
    settings = [line for line in example.splitlines() if line and not line.startswith("#")]
    assert [line.split("=", 1)[0] for line in settings] == ["ENROLL_ARGS"]


def test_the_spool_is_verified_daily_when_no_session_is_open(unit):
    timer = unit("dualrec-verify.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Persistent"] == ["true"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]
    s = unit("dualrec-verify.service")["Service"]
    assert s["ExecStart"] == [f"{INSTALLED_BIN}/dualrec verify {DEFAULTS['spool']['path']}"]
    assert s["User"] == ["dualrec"] and s["Type"] == ["oneshot"]
    assert s["ProtectSystem"] == ["strict"] and "ReadWritePaths" not in s  # it only reads
    assert "dualrec status --socket /run/dualrec/control.sock" in s["ExecCondition"][0]


def _installed_copies(tmp_path) -> list[str]:
    """The units as installed, but running the commands of this checkout's virtualenv."""
    paths = []
    for name in ALL_UNITS:
        text = (UNITS / name).read_text().replace(INSTALLED_BIN, str(VENV_BIN))
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    return paths


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt install systemd)")
    return found


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = _systemd_analyze()
    out = subprocess.run([analyze, "verify", "--man=no", *_installed_copies(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    complaints = [line for line in (out.stdout + out.stderr).splitlines()
                  if str(tmp_path) in line or any(name in line for name in ALL_UNITS)]
    assert out.returncode == 0 and not complaints, out.stdout + out.stderr


@pytest.mark.parametrize("name,most", [("dualrec.service", 2.5),
                                       ("dualrec-verify.service", 1.5),
                                       ("dualrec-firstboot.service", 5.0),
                                       ("dualrec-screen.service", 4.5)])
def test_the_sandbox_stays_tight(tmp_path, name, most):
    """``systemd-analyze security``'s exposure (0 safest, 10 unsafe) does not creep up."""
    analyze = _systemd_analyze()
    _installed_copies(tmp_path)
    out = subprocess.run([analyze, "security", "--offline=true", f"--threshold={most * 10:.0f}",
                          "--no-pager", str(tmp_path / name)], capture_output=True, text=True,
                         timeout=60)
    if "--offline" in out.stderr and "unrecognized" in out.stderr:
        pytest.skip("systemd-analyze is older than 250 (no --offline)")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr


def test_exec_start_pre_accepts_the_shipped_defaults_and_refuses_a_bad_file(tmp_path, unit):
    command = shlex.split(unit("dualrec.service")["Service"]["ExecStartPre"][0])
    command[0] = command[0].replace(INSTALLED_BIN, str(VENV_BIN))
    good = subprocess.run([c.replace(CONFIG, str(REPO / "config" / "default.toml"))
                           for c in command], capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[camera]\nfps = 1000\n[panel]\nrecord_pin = "17"\n')
    refused = subprocess.run([c.replace(CONFIG, str(bad)) for c in command],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "fps" in refused.stderr and "record_pin" in refused.stderr


def test_the_verify_condition_skips_only_while_a_session_is_open(unit, start_daemon,
                                                                 sim_config, tmp_path):
    """The ExecCondition= shell line as systemd runs it ($$ is a $), against a live daemon."""
    line = unit("dualrec-verify.service")["Service"]["ExecCondition"][0].replace("$$", "$")
    line = line.replace(INSTALLED_BIN, str(VENV_BIN))
    line = line.replace("/run/dualrec/control.sock", str(tmp_path / "control.sock"))
    command = shlex.split(line)

    def condition() -> int:
        return subprocess.run(command, capture_output=True, text=True, timeout=60).returncode

    assert condition() == 0                      # no daemon: verify runs
    daemon = start_daemon(sim_config)
    daemon.notify.wait_for("READY=1")
    daemon.wait_idle()
    assert condition() == 0                      # idle: verify runs
    assert daemon.cli("press", "RECORD").returncode == 0
    assert condition() == 1                      # recording: skipped, not failed
    assert daemon.cli("press", "RECORD", "--hold", "2.5").returncode == 0
    assert condition() == 0
    assert daemon.stop() == 0
