"""provisioning/raspberry-pi: the install script (checked, never run here: it changes the whole
machine), the configuration it writes, and the sysusers, tmpfiles and udev snippets."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PI = REPO / "provisioning" / "raspberry-pi"
INSTALL = PI / "install.sh"


def bash(script: str) -> subprocess.CompletedProcess:
    """``script`` after sourcing install.sh for its functions. The argument makes a sourced
    script that would run main() stop at its usage message instead of installing anything."""
    return subprocess.run(["bash", "-c", f'source "{INSTALL}" --not-an-option\n{script}'],
                          capture_output=True, text=True, timeout=60)


def test_install_script_is_valid_bash_and_shellcheck_clean():
    assert INSTALL.stat().st_mode & 0o111, "install.sh must be executable"
    syntax = subprocess.run(["bash", "-n", str(INSTALL)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    assert "set -euo pipefail" in INSTALL.read_text()
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt install shellcheck)")
    lint = subprocess.run(["shellcheck", str(INSTALL)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_the_written_configuration_is_the_defaults_on_real_hardware(tmp_path):
    sim_defaults = tmp_path / "defaults.toml"
    sim_defaults.write_text((REPO / "config" / "default.toml").read_text()
                            .replace('backend = "real"', 'backend = "sim"'))
    out = bash(f'render_config "{sim_defaults}"')
    assert out.returncode == 0, out.stderr
    written = tmp_path / "dualrec.toml"
    written.write_text(out.stdout)
    mine = tomllib.loads(out.stdout)
    assert mine["drivers"]["backend"] == "real"
    shipped = tomllib.loads((REPO / "config" / "default.toml").read_text())
    assert mine == shipped   # every key, with the shipped value
    check = subprocess.run([sys.executable, "-m", "firmware.cli.main", "run", "--config",
                            str(written), "--validate-config"], capture_output=True, text=True,
                           cwd=REPO, timeout=60)
    assert check.returncode == 0, check.stderr


def test_install_script_installs_every_unit_and_the_venv_the_units_run():
    text = INSTALL.read_text()
    listed = set(re.findall(r"\b(dualrec[\w-]*\.(?:service|timer))\b",
                            text.split("install_units()")[1].split("}")[0]))
    assert listed == {p.name for p in (REPO / "systemd").iterdir()}
    out = bash('echo "$venv"')
    assert out.stdout.strip() == "/opt/dualrec/venv"
    for unit in (REPO / "systemd").glob("*.service"):
        for command in re.findall(r"^Exec\w+=(\S+)", unit.read_text(), re.M):
            assert command.startswith("/opt/dualrec/venv/bin/") or command in (
                "/bin/sh", "/bin/bash", "/usr/bin/cage"), command
    for package in ("python3-picamera2", "python3-lgpio", "python3-venv", "portaudio19-dev",
                    "espeak-ng", "libsystemd-dev", "cage", "xwayland", "chromium"):
        assert package in bash('echo "${apt_packages[*]}"').stdout.split()
    assert "--system-site-packages" in text


@pytest.fixture
def fake_root(tmp_path) -> Path:
    """A root with this machine's users and groups, for snippets applied with --root."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        if Path("/etc", name).exists() and os.access(Path("/etc", name), os.R_OK):
            shutil.copy(Path("/etc", name), root / "etc" / name)
    return root


def test_sysusers_and_tmpfiles_make_the_user_and_its_directories(fake_root):
    for tool in ("systemd-sysusers", "systemd-tmpfiles"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt install systemd)")
    made = subprocess.run(["systemd-sysusers", f"--root={fake_root}",
                           str(PI / "sysusers-dualrec.conf")], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    passwd = (fake_root / "etc" / "passwd").read_text()
    user = next(line.split(":") for line in passwd.splitlines() if line.startswith("dualrec:"))
    assert user[5] == "/var/lib/dualrec" and user[6] == "/usr/sbin/nologin"
    groups = {line.split(":")[0]: line.split(":")[3].split(",")
              for line in (fake_root / "etc" / "group").read_text().splitlines()}
    for group in ("video", "audio", "gpio", "input"):
        assert "dualrec" in groups[group], group
    dirs = subprocess.run(["systemd-tmpfiles", f"--root={fake_root}", "--create",
                           str(PI / "tmpfiles-dualrec.conf")], capture_output=True, text=True)
    assert dirs.returncode == 0, dirs.stderr
    uid = int(user[2])
    for path, mode, owner in (("etc/dualrec", 0o750, 0), ("var/lib/dualrec", 0o750, uid),
                              ("var/lib/dualrec/keys", 0o700, uid)):
        st = (fake_root / path).stat()
        assert (st.st_mode & 0o7777, st.st_uid) == (mode, owner), path


def test_the_signature_pad_rule_names_the_pen_tablet():
    rules = [line for line in (PI / "70-dualrec-sigpad.rules").read_text().splitlines()
             if line and not line.startswith("#")]
    assert len(rules) == 1
    pairs = dict(re.findall(r'(\w+(?:\{\w+\})?)\s*[!=+]?=\s*"([^"]*)"', rules[0]))
    assert pairs["SUBSYSTEM"] == "input" and pairs["ENV{ID_INPUT_TABLET}"] == "1"
    assert pairs["SYMLINK"] == "dualrec-sigpad" and pairs["GROUP"] == "input"
    if shutil.which("udevadm") and "verify" in subprocess.run(
            ["udevadm", "--help"], capture_output=True, text=True).stdout:
        check = subprocess.run(["udevadm", "verify", str(PI / "70-dualrec-sigpad.rules")],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("enabled", [True, False])
def test_the_kiosk_is_enabled_only_where_the_screen_is_on(tmp_path, enabled):
    text = (REPO / "config" / "default.toml").read_text()
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "dualrec.toml").write_text(re.sub(r"(?m)^(\[display\].*\n)enabled = false",
                                             rf"\1enabled = {str(enabled).lower()}", text))
    assert tomllib.loads((etc / "dualrec.toml").read_text())["display"]["enabled"] is enabled
    venv = Path(sys.prefix)
    out = bash(f'venv="{venv}"; etc="{etc}"; display_enabled && echo on || echo off')
    assert out.stdout.strip() == ("on" if enabled else "off"), out.stderr


@pytest.mark.parametrize("action, user, allowed", [
    ("org.freedesktop.login1.reboot", "dualrec", True),
    ("org.freedesktop.login1.reboot-multiple-sessions", "dualrec", True),
    ("org.freedesktop.login1.reboot", "dualrec-screen", False),
    ("org.freedesktop.login1.reboot", "pi", False),
    ("org.freedesktop.login1.power-off", "dualrec", False),
    ("org.freedesktop.systemd1.manage-units", "dualrec", False),
])
def test_the_polkit_rule_lets_only_the_service_user_reboot(action, user, allowed):
    """The rule file evaluated by a JavaScript engine (node) as polkit evaluates it: the rule
    it adds is asked about the action and the user."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed")
    rules = (PI / "50-dualrec-reboot.rules").read_text()
    assert "50-dualrec-reboot.rules" in INSTALL.read_text()
    script = (
        "const rules = []; const polkit = {Result: {YES: 'yes', NO: 'no'},"
        " addRule: f => rules.push(f)};\n" + rules +
        f"\nconst r = rules.map(f => f({{id: {action!r}}}, {{user: {user!r}}}));"
        "\nprocess.stdout.write(JSON.stringify(r));")
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ('["yes"]' if allowed else '[null]')
