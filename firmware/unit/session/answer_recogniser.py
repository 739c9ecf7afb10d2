"""One recogniser of answers: a thread of its own in front of one understanding worker process
(:class:`~firmware.unit.understanding.service.Understanding`), hearing the jobs of the answer
windows handed to it one at a time, in order.

The answers' part has one for the counter and, when remote parties can join, one more for the
parties: a remote policyholder and the insured at the counter answer the same question at the
same moment, and with a single worker the second answer waits for the first to be heard
(measured: 2.1-5.1 s after the answer ended instead of under 1 s). Each worker process starts
when first asked and exits when idle, so the second costs its memory only while remote
parties answer.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Callable

from firmware.unit.understanding.service import Heard, RecogniserUnavailable, Understanding

if TYPE_CHECKING:
    from firmware.unit.session.answer_source import AnswerJob, AnswerSource

log = logging.getLogger(__name__)

#: ``heard(source, job, (heard, error, wall_ms))``: called on the recogniser's thread
Done = Callable[["AnswerSource", "AnswerJob", "tuple[Heard | None, str | None, int]"], None]


class AnswerRecogniser:
    """``understanding`` (closed by :meth:`close`) hears what :meth:`submit` hands over;
    ``lists()`` gives the word lists in force; ``done`` gets each result."""

    def __init__(self, understanding: Understanding, name: str,
                 lists: Callable[[], dict], done: Done) -> None:
        self._understanding = understanding
        self._lists, self._done = lists, done
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._closed = False

    def warm(self) -> None:
        """Load the model now (an answer is coming)."""
        self._jobs.put(("warm", None))

    def release(self) -> None:
        """The worker's memory back (no answer is coming soon)."""
        self._jobs.put(("release", None))

    def submit(self, source: "AnswerSource", job: "AnswerJob") -> None:
        self._jobs.put(("job", (source, job)))

    def close(self) -> None:
        """Stop: an answer being heard is not waited for; safe twice."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(("stop", None))
        self._understanding.abort()
        self._thread.join(timeout=30)
        self._understanding.close()

    def _run(self) -> None:
        while True:
            kind, item = self._jobs.get()
            if kind == "stop":
                return
            try:
                if kind == "warm":
                    self._understanding.prepare()
                elif kind == "release":
                    self._understanding.release()
                else:
                    self._hear(*item)
            except Exception as exc:  # noqa: BLE001 - warm/release failures show at the answer
                log.warning("speech understanding (%s): %s", kind, exc)

    def _hear(self, source: "AnswerSource", job: "AnswerJob") -> None:
        if source.stale(job):
            return
        began = time.monotonic()
        heard, error = None, None
        try:
            heard = self._understanding.answer(job.pcm, source.rate, source.channels,
                                               self._lists())
        except RecogniserUnavailable as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure means "not understood", on record
            error = f"{type(exc).__name__}: {exc}"
        self._done(source, job, (heard, error, int((time.monotonic() - began) * 1000)))
