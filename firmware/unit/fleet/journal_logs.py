"""The service's log lines for ``fetch-logs``: this run's, or the run before it.

Under systemd the daemon logs to the journal (:mod:`firmware.unit.logs`, ``SYSLOG_IDENTIFIER``
``dualrec`` with ``DEVICE_ID``, ``SESSION_ID`` and ``NODE`` fields), and so do its stderr (a
traceback, a faulthandler dump) and systemd itself about the unit (``UNIT=dualrec.service``: a
watchdog timeout, the exit status). The journal is read backwards from its tail: a run is the
lines of one service invocation (``_SYSTEMD_INVOCATION_ID``, or ``INVOCATION_ID`` on systemd's
own lines), or of one process of one boot (``_BOOT_ID`` and ``_PID``) where there is none. The
``previous`` run is the newest run that is not this one: after a restart, a reboot, a crash.

Elsewhere (a developer's machine, tests) only what this process kept is there: this run's
lines, and no earlier run — the answer says so (``source: process`` and a ``note``); the
``boot`` event still says how the previous run ended.

Reading is bounded: at most ``max_scan`` journal entries are looked at per call.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from firmware.unit.fleet.hooks import LogExcerpt

log = logging.getLogger(__name__)

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
PRIORITIES = ("EMERG", "ALERT", "CRIT", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG")
NO_JOURNAL = ("not running under systemd: this process keeps only its own lines (the previous "
              "run's end is in the boot event, data.previous)")


def _norm(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).replace("-", "").lower()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def run_key(entry: Mapping[str, Any]) -> str:
    """Which run of the service an entry belongs to."""
    invocation = entry.get("_SYSTEMD_INVOCATION_ID") or entry.get("INVOCATION_ID")
    if invocation:
        return "i:" + _norm(invocation)
    return f"p:{_norm(entry.get('_BOOT_ID', ''))}/{entry.get('_PID', '')}"


def current_key(environ: Mapping[str, str], boot_id: str, pid: int) -> str:
    """This run's key: systemd's ``INVOCATION_ID`` of this service, else this boot and PID."""
    if environ.get("INVOCATION_ID"):
        return "i:" + _norm(environ["INVOCATION_ID"])
    return f"p:{_norm(boot_id)}/{pid}"


def format_entry(entry: Mapping[str, Any]) -> str:
    """``2024-05-01T08:15:00.123Z WARNING message [session/node]`` (UTC)."""
    when = entry.get("__REALTIME_TIMESTAMP")
    if isinstance(when, dt.datetime):
        stamp = when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    else:
        stamp = "-"
    priority = entry.get("PRIORITY")
    level = PRIORITIES[priority] if isinstance(priority, int) and 0 <= priority < 8 else "-"
    where = "/".join(_text(entry[k]) for k in ("SESSION_ID", "NODE") if entry.get(k))
    message = _text(entry.get("MESSAGE", "")).replace("\n", "\n    ")
    return f"{stamp} {level} {message}" + (f" [{where}]" if where else "")


class JournalLogs:
    """``recent(lines)``: what this process kept (:class:`firmware.unit.logs.RecentLog`).
    ``journal``: read the journal (the daemon runs under systemd). ``open_reader`` makes a
    ``systemd.journal.Reader`` (tests: one on a given directory)."""

    def __init__(self, recent: Callable[[int], str], *, journal: bool,
                 identifier: str = "dualrec", unit: str = "dualrec.service",
                 environ: Mapping[str, str] | None = None, pid: int | None = None,
                 open_reader: Callable[[], Any] | None = None, max_scan: int = 200_000) -> None:
        self.recent = recent
        self.journal = journal
        self.identifier = identifier
        self.unit = unit
        environ = os.environ if environ is None else environ
        self.current = current_key(environ, _boot_id(), os.getpid() if pid is None else pid)
        self.open_reader = open_reader or self._system_reader
        self.max_scan = max_scan

    def excerpt(self, lines: int, run: str) -> LogExcerpt:
        if run not in ("current", "previous"):
            raise ValueError(f"run {run!r} must be current or previous")
        if not self.journal:
            if run == "previous":
                return LogExcerpt("", "process", NO_JOURNAL)
            return LogExcerpt(self.recent(lines), "process", "")
        try:
            found, note = self._read(lines, run)
        except (OSError, ImportError, ValueError) as exc:
            log.warning("fetch-logs: the journal cannot be read (%s); this process's own lines "
                        "instead", exc)
            text = self.recent(lines) if run == "current" else ""
            return LogExcerpt(text, "process", f"the journal cannot be read ({exc}); "
                              + ("these are this process's own lines" if run == "current"
                                 else "no earlier run is available"))
        text = "\n".join(format_entry(e) for e in reversed(found))
        return LogExcerpt(text + ("\n" if text else ""), "journal", note)

    def _system_reader(self) -> Any:
        from systemd import journal
        return journal.Reader(converters={"SESSION_ID": _text, "NODE": _text})

    def _entries(self) -> Iterator[dict[str, Any]]:
        """Our entries, newest first."""
        reader = self.open_reader()
        try:
            reader.add_match(SYSLOG_IDENTIFIER=self.identifier)
            reader.add_disjunction()
            reader.add_match(UNIT=self.unit)
            reader.seek_tail()
            while True:
                entry = reader.get_previous()
                if not entry:
                    return
                yield entry
        finally:
            reader.close()

    def _read(self, lines: int, run: str) -> tuple[list[dict[str, Any]], str]:
        found: list[dict[str, Any]] = []
        target = self.current if run == "current" else None
        scanned = 0
        for entry in self._entries():
            scanned += 1
            if scanned > self.max_scan:
                return found, f"stopped after {self.max_scan} journal entries"
            key = run_key(entry)
            if run == "previous" and key == self.current:
                continue
            if target is None:
                target = key
            if key != target:
                if run == "previous" or found:
                    break            # an older run
                continue             # current: a newer line of another process
            found.append(entry)
            if len(found) >= lines:
                break
        if not found:
            return found, ("the journal holds no earlier run of the service (a first start, "
                           "or the journal was rotated or not persistent)"
                           if run == "previous" else "the journal holds no line of this run")
        return found, ""


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""
