"""One worker thread that does all of a recording's evidence writes, in the order submitted.

Capture threads (camera, microphone) never wait for an fsync: they hand the sealing of a
finished segment, a GAP or an EVENT to the sealer and go on. A failure (a full disk) stops the
sealer and is reported once to its owner through ``on_fault``; it is never raised into a
capture thread.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

_STOP = object()


class Sealer:
    def __init__(self, on_fault: Callable[[BaseException], None] | None = None,
                 name: str = "sealer") -> None:
        self._queue: queue.Queue = queue.Queue()
        self._on_fault = on_fault
        self.error: BaseException | None = None
        self.jobs_done = 0
        self.last_done = time.monotonic()   # when a write last completed (watchdog freshness)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], object], on_drop: Callable[[], None] | None = None) -> None:
        """Run ``job`` on the sealer thread. If the sealer has failed, ``on_drop`` runs instead
        (so a segment's ``.part`` files are closed and left for recovery)."""
        self._queue.put((job, on_drop))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                job, on_drop = item
                if self.error is not None:
                    if on_drop is not None:
                        on_drop()
                    continue
                try:
                    job()
                    self.jobs_done += 1
                    self.last_done = time.monotonic()
                except BaseException as exc:  # reported to the owner, not swallowed
                    if on_drop is not None:
                        on_drop()
                    self.fail(exc)
            finally:
                self._queue.task_done()

    def fail(self, exc: BaseException) -> None:
        """A capture thread's write failed: stop sealing and report it (once) to the owner."""
        if self.error is None:
            self.error = exc
            if self._on_fault is not None:
                self._on_fault(exc)

    def drain(self) -> None:
        """Wait until every job submitted so far has run."""
        self._queue.join()

    def close(self) -> None:
        """Run what is queued, then stop the thread. Safe twice."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
