"""fetch-logs of the previous run: the real systemd-journald, played in a private mount
namespace with a fresh /run (as tests/systemd/test_journal.py plays it), receives a daemon run
that crashes and the run after it; the agent's command handler answers from the journal."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from firmware.unit.fleet.journal_logs import JournalLogs, current_key, run_key
from tests.fleet.contract_watch import closed_contract

CHILD = Path(__file__).with_name("journal_child.py")
REPO = Path(__file__).resolve().parents[2]


def test_the_previous_runs_lines_come_from_the_journal(tmp_path):
    out = tmp_path / "answers.json"
    run = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                          'mount -t tmpfs tmpfs /run && exec "$0" "$@"', sys.executable,
                          str(CHILD), str(out)], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    answers = json.loads(out.read_text())
    for answer in answers.values():
        assert not closed_contract().schema_problems("FetchLogsResult", answer), answer
    previous, current = answers["previous"], answers["current"]
    assert (previous["source"], previous["run"], previous["note"]) == ("journal", "previous", "")
    text = previous["text"]
    assert "previous run: device dr-unit-a running" in text
    assert "ERROR frames stale for 31 s; customer called from [redacted] " \
           "[20240501T081500Z-3fa2c1/consent]" in text          # the session fields
    assert "RuntimeError: encoder wedged" in text                 # its stderr: the traceback
    assert "current run" not in text and "13812345678" not in text
    assert previous["lines"] == text.count("\n") >= 4
    assert "current run: device dr-unit-a running" in current["text"]
    assert "previous run" not in current["text"] and current["source"] == "journal"


def test_off_systemd_only_this_process_is_there_and_the_answer_says_so():
    logs = JournalLogs(lambda n: "kept line\n", journal=False, environ={})
    now = logs.excerpt(10, "current")
    assert (now.text, now.source, now.note) == ("kept line\n", "process", "")
    before = logs.excerpt(10, "previous")
    assert before.text == "" and before.source == "process" and "systemd" in before.note


def test_a_run_is_an_invocation_or_else_a_process_of_a_boot():
    assert run_key({"_SYSTEMD_INVOCATION_ID": "AB-cd", "_PID": 7}) == "i:abcd"
    assert run_key({"INVOCATION_ID": "abcd", "_PID": 1}) == "i:abcd"   # systemd's own lines
    assert run_key({"_BOOT_ID": "b-1", "_PID": 7}) == "p:b1/7"
    assert current_key({"INVOCATION_ID": "ABCD"}, "b-1", 7) == "i:abcd"
    assert current_key({}, "b-1", 7) == "p:b1/7"
