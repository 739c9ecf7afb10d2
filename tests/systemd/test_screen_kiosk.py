"""The kiosk unit of the customer's screen (systemd/dualrec-screen.service): what it must say,
and that its own command line shows the screen — cage on wlroots' headless backend (there is
no display here) running the unit's Chromium command, as an unprivileged user, against a
display server on loopback, until the page is connected to the update stream.

cage and Xwayland come from apt (``./dev setup``: cage, xwayland), Chromium too; a missing one
fails the test with that instruction."""
from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import tomllib
from pathlib import Path

import pytest

from drivers.clock import SimClock
from firmware.unit.display.documents import DocumentLibrary
from firmware.unit.display.server import DisplayServer
from firmware.unit.display.view import DisplayView

REPO = Path(__file__).resolve().parents[2]
DEFAULTS = tomllib.loads((REPO / "config" / "default.toml").read_text())
KIOSK = "dualrec-screen.service"


def environment(service: dict) -> dict[str, str]:
    return dict(value.split("=", 1) for value in service["Environment"])


def expand(words: list[str], env: dict[str, str]) -> list[str]:
    """systemd's ``${VAR}`` in command lines (``$$`` is a ``$`` for the shell)."""
    return [re.sub(r"\$\$|\$\{(\w+)\}",
                   lambda m: "$" if m.group(0) == "$$" else env[m.group(1)], w) for w in words]


def split(line: str) -> list[str]:
    return shlex.split(line)


def test_the_kiosk_unit(unit):
    u = unit(KIOSK)
    s = u["Service"]
    single = {key: values[-1] for key, values in s.items()}
    assert single["Restart"] == "always" and u["Unit"]["StartLimitIntervalSec"] == ["0"]
    assert single["User"] == "dualrec-screen" and single["PAMName"] == "login"
    assert single["TTYPath"] == "/dev/tty1" and "getty@tty1.service" in u["Unit"]["Conflicts"]
    assert "dualrec.service" in " ".join(u["Unit"]["After"])
    # it opens the page the daemon serves by default, and can reach nothing else
    env = environment(s)
    listen = DEFAULTS["display"]["listen"]
    assert f"{env['SCREEN_HOST']}:{env['SCREEN_PORT']}" == listen
    command = expand(split(single["ExecStart"]), env)
    assert command[:3] == ["/usr/bin/cage", "-d", "--"]
    assert command[3] == "/usr/bin/chromium" and "--kiosk" in command
    assert command[-1] == f"http://{listen}/"
    assert "--no-sandbox" not in command
    assert single["IPAddressDeny"] == "any" and single["IPAddressAllow"] == "localhost"
    assert u["Install"]["WantedBy"] == ["multi-user.target"]


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run ./dev setup (apt package {package})",
                    pytrace=False)
    return path


def test_the_kiosk_command_line_shows_the_screen(unit):
    s = unit(KIOSK)["Service"]
    _tool("cage", "cage")
    _tool("Xwayland", "xwayland")
    env = environment(s)
    _tool(env["SCREEN_BROWSER"], "chromium")
    inputs: queue.Queue = queue.Queue()
    server = DisplayServer("127.0.0.1:0", DocumentLibrary(REPO / "config" / "documents"),
                           inputs.put, clock=SimClock())
    # a directory the unprivileged user may use (the unit's RuntimeDirectory)
    runtime = Path(tempfile.mkdtemp(prefix="dualrec-screen-", dir="/tmp"))
    kiosk = None
    try:
        server.start()
        server.publish(DisplayView(status="设备就绪"))
        env["SCREEN_PORT"] = str(server.url.rsplit(":", 1)[1].rstrip("/"))
        wait = expand(split(s["ExecStartPre"][0]), env)
        assert subprocess.run(wait, env={**os.environ, **env}, timeout=30).returncode == 0
        command = [w.replace("/run/dualrec-screen", str(runtime))
                   for w in expand(split(s["ExecStart"][0]), env)]
        (runtime / "xdg").mkdir(mode=0o700)
        as_user: list[str] = []
        if os.geteuid() == 0:           # cage refuses root; the unit runs as its own user
            as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
            for path in (runtime, runtime / "xdg"):
                os.chown(path, 65534, 65534)
        kiosk = subprocess.Popen(
            [*as_user, *command], start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin", "HOME": str(runtime),
                 "XDG_RUNTIME_DIR": str(runtime / "xdg"), "WLR_BACKENDS": "headless",
                 "WLR_LIBINPUT_NO_DEVICES": "1", "WLR_RENDERER": "pixman"})
        event = inputs.get(timeout=90)              # the page opened the update stream
        assert event.kind == "viewers" and event.viewers == 1
        assert kiosk.poll() is None
    finally:
        if kiosk is not None and kiosk.poll() is None:
            os.killpg(kiosk.pid, signal.SIGTERM)
            try:
                kiosk.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(kiosk.pid, signal.SIGKILL)
                kiosk.wait()
        server.close()
        shutil.rmtree(runtime, ignore_errors=True)


def test_the_kiosk_waits_for_the_daemons_page(unit):
    """Nothing listens: the wait before the browser keeps waiting (it is only bounded by the
    unit's TimeoutStartSec=, then systemd starts it again)."""
    s = unit(KIOSK)["Service"]
    env = {**environment(s), "SCREEN_PORT": "9"}          # discard: nothing listens here
    wait = expand(split(s["ExecStartPre"][0]), env)
    done = subprocess.run(["timeout", "2", *wait], env={**os.environ, **env}, timeout=30)
    assert done.returncode == 124                          # still waiting when timed out
