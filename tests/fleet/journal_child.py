"""Run as root inside a private mount namespace with a fresh /run: start the real
systemd-journald there, run a "previous" daemon process that logs through the daemon's own
logging to the journal (with its session fields) and dies with a traceback on its stderr (the
journal's stream, as under systemd), then a "current" one that answers fetch-logs for both runs
through the agent's command handler. Writes what it answered as JSON.

Usage: journal_child.py OUT.json          (the namespace's first process)
       journal_child.py previous          (a daemon run that crashes)
       journal_child.py current OUT.json  (the run after it)
Not collected by pytest (no ``test_`` prefix).
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
SOCKETS = (Path("/run/systemd/journal/socket"), Path("/run/systemd/journal/stdout"))
JOURNALD = "/lib/systemd/systemd-journald"


def previous() -> int:
    from firmware.unit.logs import DaemonLogging, LogContext
    context = LogContext("dr-unit-a")
    logs = DaemonLogging("info", context, journal=True)
    log = logging.getLogger("firmware.unit.daemon")
    log.info("previous run: device dr-unit-a running")
    context.set(session_id="20240501T081500Z-3fa2c1", node="consent")
    log.error("frames stale for 31 s; customer called from 13812345678")
    logs.close()
    sys.stderr.write("Traceback (most recent call last):\nRuntimeError: encoder wedged\n")
    sys.stderr.flush()
    return 70


def current(out: str) -> int:
    from firmware.unit.fleet.commands import Command, CommandHandlers
    from firmware.unit.fleet.journal_logs import JournalLogs
    from firmware.unit.logs import DaemonLogging, LogContext
    logs = DaemonLogging("info", LogContext("dr-unit-a"), journal=True)
    logging.getLogger("firmware.unit.daemon").info("current run: device dr-unit-a running")
    logs.close()
    subprocess.run(["journalctl", "--sync"], check=True, timeout=30)
    source = JournalLogs(logs.recent.tail, journal=True, environ={})

    class Hooks:
        def fetch_logs(self, lines, run):
            return source.excerpt(lines, run)

    noop = lambda *a: None  # noqa: E731
    handlers = CommandHandlers(Hooks(), None, defer=noop, begin=noop, agent_status=dict,
                               telemetry=dict, capabilities=dict, config_changed=noop)
    answers = {run: handlers.run(Command("c-1", "fetch-logs", {"lines": 50, "run": run})).result
               for run in ("previous", "current")}
    Path(out).write_text(json.dumps(answers))
    return 0


def outer(out: str) -> int:
    Path("/run/systemd/journal").mkdir(parents=True, exist_ok=True)
    journald = subprocess.Popen([JOURNALD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not all(s.exists() for s in SOCKETS):
            if journald.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("systemd-journald did not start")
            time.sleep(0.02)
        env = {k: v for k, v in os.environ.items() if k not in ("INVOCATION_ID",
                                                                  "JOURNAL_STREAM")}
        crashed = subprocess.run(["systemd-cat", "-t", "dualrec", sys.executable, __file__,
                                  "previous"], env=env, timeout=60)
        if crashed.returncode != 70:
            raise SystemExit(f"the previous run exited {crashed.returncode}")
        done = subprocess.run([sys.executable, __file__, "current", out], env=env, timeout=120)
        return done.returncode
    finally:
        journald.terminate()
        journald.wait(30)


if __name__ == "__main__":
    if sys.argv[1] == "previous":
        sys.exit(previous())
    if sys.argv[1] == "current":
        sys.exit(current(sys.argv[2]))
    sys.exit(outer(sys.argv[1]))
