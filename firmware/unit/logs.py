"""Where the daemon's log lines go: the journal under systemd (with structured fields), stderr
elsewhere — and never in the way of the main loop.

Every line carries the unit's ``DEVICE_ID`` and, while a session runs, its ``SESSION_ID`` and
``NODE`` as journal fields, so ``journalctl -u dualrec SESSION_ID=…`` gives one session's log.
Under systemd (``JOURNAL_STREAM`` names our stderr) lines go to journald natively through
``systemd.journal.JournalHandler``; elsewhere to stderr as text.

Logging calls only put the record on a bounded queue; one thread writes them out. A wedged
journald or a stalled stderr pipe then costs log lines (dropped and counted), never a frozen
watchdog or a shutdown that hangs.
"""
from __future__ import annotations

import collections
import logging
import logging.handlers
import os
import queue
import sys
import threading
from typing import Any

QUEUE_LINES = 10_000
TEXT_FORMAT = "%(levelname)s %(name)s%(where)s: %(message)s"


class LogContext:
    """What the lines logged now are about: the device, and the session and node running."""

    def __init__(self, device_id: str = "") -> None:
        self._lock = threading.Lock()
        self._fields = {"DEVICE_ID": device_id, "SESSION_ID": "", "NODE": ""}

    def set(self, *, device_id: str | None = None, session_id: str | None = None,
            node: str | None = None) -> None:
        """Change some fields; ``""`` clears one (no session, no node)."""
        with self._lock:
            for name, value in (("DEVICE_ID", device_id), ("SESSION_ID", session_id),
                                ("NODE", node)):
                if value is not None:
                    self._fields[name] = value

    def fields(self) -> dict[str, str]:
        with self._lock:
            return dict(self._fields)


class _ContextFilter(logging.Filter):
    def __init__(self, context: LogContext) -> None:
        super().__init__()
        self._context = context

    def filter(self, record: logging.LogRecord) -> bool:
        fields = self._context.fields()
        for name, value in fields.items():
            if value:
                setattr(record, name, value)
        where = "/".join(v for v in (fields["SESSION_ID"], fields["NODE"]) if v)
        record.where = f" [{where}]" if where else ""
        return True


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread; when its queue is full the record is dropped."""

    def __init__(self, q: queue.Queue) -> None:
        super().__init__(q)
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class RecentLog(logging.Handler):
    """The last lines logged, for the fleet's fetch-logs command (the journal keeps them all)."""

    def __init__(self, lines: int = 2000) -> None:
        super().__init__()
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s%(where)s: "
                                            "%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not hasattr(record, "where"):
            record.where = ""
        self._lines.append(self.format(record))

    def tail(self, lines: int) -> str:
        return "\n".join(list(self._lines)[-lines:])


def under_journal(environ: dict[str, str] | None = None) -> bool:
    """True when stderr is connected to the journal (systemd sets JOURNAL_STREAM to its
    device:inode); a child that inherited the variable but not the stream is not."""
    env = os.environ if environ is None else environ
    stream = env.get("JOURNAL_STREAM", "")
    dev, _, ino = stream.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


def _writer(journal: bool) -> logging.Handler:
    if journal:
        from systemd.journal import JournalHandler
        handler: logging.Handler = JournalHandler(SYSLOG_IDENTIFIER="dualrec")
        handler.setFormatter(logging.Formatter("%(message)s"))
        return handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    return handler


class DaemonLogging:
    """The daemon's logging, installed on the root logger; :meth:`close` flushes and removes
    it (safe twice)."""

    def __init__(self, level: str, context: LogContext, *, journal: bool | None = None,
                 recent_lines: int = 2000, queue_lines: int = QUEUE_LINES) -> None:
        self.context = context
        self.journal = under_journal() if journal is None else journal
        self.recent = RecentLog(recent_lines)
        self._queue: queue.Queue[Any] = queue.Queue(queue_lines)
        self._handler = _DroppingQueueHandler(self._queue)
        self._handler.addFilter(_ContextFilter(context))
        self._listener = logging.handlers.QueueListener(
            self._queue, _writer(self.journal), self.recent, respect_handler_level=False)
        root = logging.getLogger()
        self._previous = (root.level, list(root.handlers))
        for h in list(root.handlers):
            root.removeHandler(h)
        root.setLevel(getattr(logging, level.upper()))
        root.addHandler(self._handler)
        self._listener.start()
        self._closed = False

    def set_level(self, level: str) -> None:
        logging.getLogger().setLevel(getattr(logging, level.upper()))

    @property
    def dropped(self) -> int:
        return self._handler.dropped

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        root = logging.getLogger()
        root.removeHandler(self._handler)
        self._listener.stop()
        level, handlers = self._previous
        root.setLevel(level)
        for h in handlers:
            root.addHandler(h)
