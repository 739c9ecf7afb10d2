"""Where an answer is heard: the counter's microphone or a remote party's call, each with its own
answer window (:mod:`~firmware.unit.session.answers` runs them and decides).

An :class:`AnswerSource` keeps the last few seconds of its audio while an answer node runs (the
prompt's end is seen late) and, once the node's prompt has played to its end, an
:class:`AnswerWindow`: the audio after the prompt, the customer's speech in it and when it ends.

- The window opens when the node's prompt (or its replay) has played to its end and lasts
  ``answer_seconds``; it ends sooner when the customer has spoken and fallen silent
  (:data:`HANGOVER_NS`), and later, by at most :data:`EXTEND_NS`, while they are still
  speaking when it should end.
- To be quick, the audio is handed to the recogniser as soon as the customer pauses
  (:data:`PAUSE_NS`): by the time the silence confirms the answer has ended, its meaning is
  usually known.

Times are CLOCK_MONOTONIC ns of the unit: the microphone's blocks are stamped at capture, a
remote party's at their arrival on the unit (docs/remote-media.md §4), so a remote answer's
window starts at the same prompt end and its audio simply arrives a little later.

Threading: :meth:`AnswerSource.feed` runs on the audio's own thread (the microphone's, or the
party's media thread) and does only a deque append and a level per block; everything else is
called on the flow's thread or the recogniser's, under the source's lock.
"""
from __future__ import annotations

import math
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from firmware.errors import DualrecError

NS = 1_000_000_000
PREROLL_NS = 3 * NS            # audio kept before the window opens (the prompt's end is seen late)
PAUSE_NS = 200_000_000         # a pause this long hands the answer so far to the recogniser
HANGOVER_NS = 800_000_000      # silence this long after speech ends the answer
EXTEND_NS = 4 * NS             # the most a window grows while the customer is still speaking
MIN_SPEECH_NS = 100_000_000    # less voiced audio than this is not speech (a click, a cough)
VOICE_DBFS = -42.0             # a block louder than this (and the room's floor + 12 dB) is voiced
FLOOR_MARGIN_DB = 12.0
FLOOR_CAP_DB = -25.0           # the voiced threshold never rises above this (a loud room)

#: the source of the counter's microphone; a remote party's source is named by its party id
COUNTER = "counter"
_PARTY_ID = re.compile(r"[a-z0-9]{1,16}")


class AnswerSourceError(DualrecError, ValueError):
    """A source name that cannot name an answer's files (party ids are ``[a-z0-9]{1,16}``)."""


def check_source_name(party: str) -> str:
    """``party`` if it is ``counter`` or a party id (it goes into file names)."""
    if not isinstance(party, str) or not _PARTY_ID.fullmatch(party):
        raise AnswerSourceError(f"answer source {party!r}: must be 'counter' or a party id of "
                                "1-16 lowercase letters and digits")
    return party


def answer_file_name(node: str, party: str, attempt: int) -> str:
    """The sealed heard text of one answer: ``NODE-answer-N.json`` for the counter (as it has
    always been named), ``NODE-answer-PARTY-N.json`` for a remote party."""
    check_source_name(party)
    if party == COUNTER:
        return f"{node}-answer-{attempt}.json"
    return f"{node}-answer-{party}-{attempt}.json"


def block_dbfs(pcm: bytes) -> float:
    """The level of 16-bit PCM in dB relative to full scale (-inf for digital silence)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    if not len(samples):
        return -math.inf
    power = float(np.dot(samples, samples.astype(np.float64))) / len(samples)
    return 10.0 * math.log10(power / 32768.0 ** 2) if power > 0 else -math.inf


@dataclass
class AnswerJob:
    """Audio handed to the recogniser: a candidate answer (``final``: the answer's end was
    seen, so its result is the answer)."""

    window: "AnswerWindow"
    seq: int
    final: bool
    pcm: bytes
    end_ns: int                 # the audio handed over ends here


@dataclass
class AnswerWindow:
    """One answer window's audio and the customer's speech in it (guarded by its source's
    lock)."""

    node: str
    attempt: int
    start_ns: int
    deadline_ns: int
    rate: int
    channels: int
    threshold_db: float
    party: str = COUNTER
    blocks: list[bytes] = field(default_factory=list)
    audio_start_ns: int | None = None
    audio_end_ns: int = 0
    voiced_ns: int = 0
    speech_end_ns: int | None = None     # the end of the last voiced block
    seq: int = 0                          # candidates handed over
    cut_ns: int = 0                       # the newest candidate's audio ends here
    final_seq: int | None = None          # the candidate whose result is the answer
    closed: bool = False                  # no more audio is taken
    results: dict[int, tuple[Any, str | None, int]] = field(default_factory=dict)
    committed: bool = False

    def take(self, first_ns: int, frames: int, pcm: bytes) -> tuple[AnswerJob | None, bool]:
        """Add one block; (a job for the recogniser or None, whether an earlier candidate was
        just made the answer)."""
        end_ns = first_ns + frames * NS // self.rate
        if self.closed or end_ns <= self.start_ns:
            return None, False
        if self.audio_start_ns is None:
            self.audio_start_ns = first_ns
        self.blocks.append(pcm)
        self.audio_end_ns = end_ns
        if block_dbfs(pcm) > self.threshold_db:
            self.voiced_ns += end_ns - first_ns
            self.speech_end_ns = end_ns
        speech = self.voiced_ns >= MIN_SPEECH_NS
        silence = end_ns - (self.speech_end_ns if speech else self.start_ns)
        final = ((speech and silence >= HANGOVER_NS)
                 or (end_ns >= self.deadline_ns and (not speech or silence >= PAUSE_NS))
                 or end_ns >= self.deadline_ns + EXTEND_NS)
        if final:
            self.closed = True
            if speech and self.seq and self.cut_ns >= self.speech_end_ns:
                self.final_seq = self.seq        # nothing said since: that candidate is it
                return None, True
            return self._job(final=True), False
        if speech and silence >= PAUSE_NS and self.cut_ns < self.speech_end_ns:
            return self._job(final=False), False
        return None, False

    def _job(self, final: bool) -> AnswerJob:
        self.seq += 1
        self.cut_ns = self.audio_end_ns
        if final:
            self.final_seq = self.seq
        return AnswerJob(self, self.seq, final, b"".join(self.blocks), self.audio_end_ns)


Dispatch = Callable[["AnswerSource", list[AnswerJob], "AnswerWindow | None"], None]
"""``dispatch(source, jobs, promoted)``: what a source's audio produced (jobs for the
recogniser; the window whose earlier candidate was just made its answer, or None)."""


class AnswerSource:
    """One voice answers are heard from: the counter's microphone (``party`` = ``counter``) or
    a remote party's call (``party`` = its id). ``rate``/``channels``: its audio's.

    ``dispatch`` is called with what the audio produced, on the audio's thread (it must only
    queue). ``meaning`` is the latest decided meaning at the current node (None: not known);
    ``unsubscribe`` stops a remote party's audio (set by the owner)."""

    def __init__(self, party: str, rate: int, channels: int, dispatch: Dispatch) -> None:
        self.party = check_source_name(party)
        self.rate, self.channels = int(rate), int(channels)
        self._dispatch = dispatch
        self._lock = threading.Lock()
        self._ring: deque[tuple[int, int, bytes]] = deque()
        self._armed = False
        self._window: AnswerWindow | None = None
        self.meaning: str | None = None
        self.unsubscribe: Callable[[], None] | None = None

    # -- the audio's thread ------------------------------------------------------------------
    def feed(self, block: Any) -> None:
        """One block of this source's audio (an :class:`~drivers.audio.AudioBlock`): kept while
        an answer node runs, taken into the open window."""
        with self._lock:
            if not self._armed:
                return
            entry = (block.first_sample_ns, block.frames, block.pcm)
            self._ring.append(entry)
            while self._ring and self._ring[0][0] < block.first_sample_ns - PREROLL_NS:
                self._ring.popleft()
            window = self._window
            if window is None:
                return
            job, promoted = window.take(*entry)
        if job is not None or promoted:
            self._dispatch(self, [job] if job is not None else [],
                           window if promoted else None)

    # -- the flow's thread -------------------------------------------------------------------
    def arm(self, armed: bool) -> None:
        """Start (an answer node began) or stop keeping audio; either way no window is open."""
        with self._lock:
            self._armed, self._window, self._ring = armed, None, deque()
        self.meaning = None

    @property
    def armed(self) -> bool:
        with self._lock:
            return self._armed

    def close_window(self) -> None:
        """A replay: what comes next is a new answer (the audio kept stays)."""
        with self._lock:
            self._window = None
        self.meaning = None

    def open_window(self, node: str, attempt: int, start_ns: int, seconds: float) -> None:
        """The prompt ended at ``start_ns``: a new window over the audio kept since, with a
        voiced threshold above the room's floor of the two seconds before."""
        self.meaning = None
        with self._lock:
            if not self._armed:
                return
            floor = min((block_dbfs(pcm) for first, frames, pcm in self._ring
                         if first + frames * NS // self.rate >= start_ns - 2 * NS),
                        default=-math.inf)
            window = AnswerWindow(node, attempt, start_ns, start_ns + int(seconds * NS),
                                  self.rate, self.channels,
                                  max(VOICE_DBFS, min(floor + FLOOR_MARGIN_DB, FLOOR_CAP_DB)),
                                  self.party)
            self._window = window
            jobs, promoted = [], False
            for first, frames, pcm in self._ring:
                job, made = window.take(first, frames, pcm)
                jobs += [job] if job else []
                promoted = promoted or made
        if jobs or promoted:
            self._dispatch(self, jobs, window if promoted else None)

    @property
    def window(self) -> AnswerWindow | None:
        with self._lock:
            return self._window

    # -- the recogniser's thread and the flow's ----------------------------------------------
    def stale(self, job: AnswerJob) -> bool:
        """Whether ``job`` need not be heard: its window was replaced, another candidate is its
        answer, or a newer candidate came after it."""
        with self._lock:
            return (job.window is not self._window
                    or job.window.final_seq not in (None, job.seq)
                    or (not job.final and job.window.seq > job.seq))

    def keep_result(self, job: AnswerJob, result: tuple[Any, str | None, int]) -> None:
        with self._lock:
            job.window.results[job.seq] = result

    def commit(self, window: AnswerWindow) -> tuple[Any, str | None, int] | None:
        """The answer's result (heard, error, wall ms) once, when ``window`` is still the
        current one, its answer is known and its result is back; else None."""
        with self._lock:
            if window is not self._window or window.committed or window.final_seq is None \
                    or window.final_seq not in window.results:
                return None
            window.committed = True
            return window.results[window.final_seq]
