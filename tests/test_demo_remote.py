"""`dualrec demo --remote` as a person runs it (the console script in the virtualenv): a real
mosquitto with the project's configuration, the relay, the unit, the SMS's code and link, the
remote policyholder joining (headless Chromium when it can, else an aiortc peer), her call
sealed on the chain, the session verified; and afterwards nothing the demo started is left: no
broker, no browser, no listening port, no temporary directory.

The demo's temporary directories (the broker's, Chromium's profile) go under a ``TMPDIR`` of
the test's own, so every process the demo started names a directory of the test on its command
line. That ``TMPDIR`` is short (``/tmp/drt-…``): Chromium puts its singleton socket there, and a
Unix socket's path must fit in 108 bytes.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from firmware.cli.demo_remote_browser import chromium_missing
from firmware.office.meet.relay import STATIC_DIR

DUALREC = Path(sys.executable).with_name("dualrec")
TIMEOUT_S = 600       # a whole session at real speed on a loaded 2-core machine: about 2 min


@pytest.fixture
def scratch(tmp_path) -> Iterator[tuple[Path, Path]]:
    """The demo's --out (under tmp_path) and its TMPDIR (short, removed at the end)."""
    tmp = Path(tempfile.mkdtemp(prefix="drt-", dir="/tmp"))
    try:
        yield tmp_path / "out", tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def demo_env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(tmp)}


def run_remote(scratch: tuple[Path, Path], *extra: str) -> dict:
    out, tmp = scratch
    done = subprocess.run([str(DUALREC), "demo", "--remote", "--json", "--out", str(out),
                           *extra], capture_output=True, text=True, timeout=TIMEOUT_S,
                          env=demo_env(tmp))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads(done.stdout)


def processes_naming(path: Path) -> list[str]:
    """Command lines of running processes that name ``path`` (this test's own do not)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:           # it ended meanwhile
            continue
        if str(path) in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def assert_nothing_left(scratch: tuple[Path, Path], ports: dict[str, int] | None = None
                        ) -> None:
    out, tmp = scratch
    assert processes_naming(out) == [] and processes_naming(tmp) == []
    assert [p.name for p in tmp.iterdir()] == []       # the broker's directory, the profile
    for name, port in (ports or {}).items():
        assert not listening(port), f"{name} port {port} still listens"


def check_session(outcome: dict) -> dict:
    assert outcome["verified"] is True and outcome["verdict"] == "pass", outcome
    remote = outcome["remote"]
    assert remote["joined"] is True and remote["party"] == "p1", remote
    assert remote["roles"] == ["policyholder"] and remote["connections"][0] == 1
    assert remote["meeting"]["opened"] and remote["meeting"]["ended"]
    assert remote["meeting"]["notices"][:1] == ["opened"]           # what the SMS came from
    assert remote["sms"]["link"].startswith(f"http://127.0.0.1:{remote['ports']['relay']}/j/")
    assert remote["refused_before_join"] is True
    assert {"node": "consent", "reason": "remote_not_joined"} in outcome["refusals"]
    assert remote["segments"]["remote_video"] > 0 and remote["segments"]["remote_audio"] > 0
    assert remote["seconds"]["remote_audio"] > 10
    assert remote["left"] == "unit_closed"
    assert [s["node"] for s in remote["signatures"]] == ["signature"]   # on her phone
    assert remote["page"]["failed"] == "" and remote["page"]["errors"] == [], remote["page"]
    check_understanding(outcome)
    return remote


def check_understanding(outcome: dict) -> None:
    """Answers understood as at the counter: she joined after the consent question, so NEXT
    was refused answer_not_asked and REPLAY asked everyone again; her last answer at each
    question, and the insured's at the counter, are a clear yes; her ID card was read."""
    assert {"node": "consent", "reason": "answer_not_asked"} in outcome["refusals"]
    last: dict[tuple[str, str], dict] = {}
    for answer in outcome["answers"]:
        last[(answer["node"], answer["party"])] = answer
    for node in ("consent", "confirm"):
        for party in ("counter", "p1"):
            assert last[(node, party)]["meaning"] == "affirmative", outcome["answers"]
    assert not any(a["party"] == "p1" and a["attempt"] == 1 and a["node"] == "consent"
                   for a in outcome["answers"])                 # she was not there yet
    assert outcome["remote"]["id_check"] == "match", outcome["remote"]
    assert outcome["findings"] == [], outcome["findings"]


def test_the_remote_policyholder_joins_and_the_session_verifies(scratch):
    page_scripts = all((STATIC_DIR / s).is_file() for s in ("call.js", "party_screen.js"))
    expected = "chromium" if page_scripts and not chromium_missing() else "aiortc"
    outcome = run_remote(scratch)
    remote = check_session(outcome)
    assert remote["party_kind"] == expected
    assert_nothing_left(scratch, remote["ports"])


def test_an_aiortc_party_joins_answers_signs_and_the_session_verifies(scratch):
    outcome = run_remote(scratch, "--remote-party", "aiortc")
    remote = check_session(outcome)
    assert remote["party_kind"] == "aiortc"
    assert remote["page"]["ended"] == "closed"
    assert remote["page"]["received"]["video"] > 0 and remote["page"]["received"]["audio"] > 0
    assert [a["node"] for a in remote["answers_said"]] == ["consent", "confirm"]
    assert_nothing_left(scratch, remote["ports"])


def test_ctrl_c_while_the_party_is_in_the_call_stops_everything(scratch):
    """SIGINT to the demo's process group, as a terminal's Ctrl-C sends it, once the party
    has joined: exit 130, and nothing of the demo is left."""
    out, tmp = scratch
    proc = subprocess.Popen([str(DUALREC), "demo", "--remote", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=demo_env(tmp), start_new_session=True)
    try:
        seen = []
        for line in proc.stdout:                     # event-driven: the demo's own words
            seen.append(line)
            if " joined: party " in line:
                break
        else:
            raise AssertionError("the party never joined:\n" + "".join(seen)
                                 + proc.stderr.read()[-3000:])
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted" in err
    assert_nothing_left(scratch)


def test_remote_refuses_a_counter_scenario_and_a_sale_with_nobody_remote(tmp_path, scratch):
    done = subprocess.run([str(DUALREC), "demo", "--remote", "--scenario", "misleading"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--scenario" in done.stderr
    spec = tmp_path / "sale.json"
    sample = json.loads((Path(__file__).resolve().parents[1] / "firmware" / "samples"
                         / "demo-sale.json").read_text(encoding="utf-8"))
    spec.write_text(json.dumps(sample, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run([str(DUALREC), "demo", "--remote", "--ticket-spec", str(spec),
                           "--out", str(scratch[0])], capture_output=True, text=True,
                          timeout=60, env=demo_env(scratch[1]))
    assert done.returncode == 2 and "exactly one remote person" in done.stderr, done.stderr
    assert_nothing_left(scratch)
