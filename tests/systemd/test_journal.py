"""Under systemd the daemon logs to the journal natively, each line with the device and, while
a session runs, its session id and node as fields (``journalctl SESSION_ID=…``); elsewhere it
logs text to stderr. journald is played by the test in a private mount namespace."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sim_config import write_sim_config

CHILD = Path(__file__).with_name("journal_child.py")
REPO = Path(__file__).resolve().parents[2]


def test_log_lines_reach_the_journal_with_session_node_and_device_fields(tmp_path):
    config = write_sim_config(tmp_path)
    out = tmp_path / "journal.json"
    run = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                          'mount -t tmpfs tmpfs /run && exec "$0" "$@"', sys.executable,
                          str(CHILD), str(config), str(out)], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    got = json.loads(out.read_text())
    assert got["exit"] == 0, got["stderr"]
    entries = got["entries"]
    assert entries, "nothing reached the journal"
    assert got["stderr"] == "", "under the journal nothing goes to stderr as text"
    assert all(e.get("SYSLOG_IDENTIFIER") == "dualrec" for e in entries)
    device = {e.get("DEVICE_ID") for e in entries if e.get("DEVICE_ID")}
    assert len(device) == 1 and next(iter(device)).startswith("dr-"), device
    of_session = [e for e in entries if e.get("SESSION_ID") == got["session"]]
    assert of_session, [e.get("MESSAGE") for e in entries]
    assert {e.get("NODE") for e in of_session} >= {"consent"}
    assert all("PRIORITY" in e and "MESSAGE" in e for e in entries)
    assert any("stopped cleanly" in e["MESSAGE"] for e in entries)


def test_without_the_journal_the_daemon_logs_text_to_stderr(tmp_path):
    from firmware.unit.logs import under_journal
    assert not under_journal({"JOURNAL_STREAM": "1:2"})
    assert not under_journal({})
    config = write_sim_config(tmp_path)
    out = subprocess.run([sys.executable, "-m", "firmware.cli.main", "run", "--config", str(config),
                          "--validate-config"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0
