"""The customer's answers understood: at a node that requires an answer, what the customer says
after the prompt is transcribed and judged by the template's word lists, and NEXT waits for a
clear yes.

- The answer window opens when the node's prompt (or its replay) has played to its end and
  lasts ``answer_seconds``; it ends sooner when the customer has spoken and fallen silent
  (:data:`HANGOVER_NS`), and later, by at most :data:`EXTEND_NS`, while they are still
  speaking when it should end. Its audio is kept from the microphone's blocks (on the
  microphone's thread: a deque append and a level per block, nothing more).
- Recognition runs on a thread of this part (the understanding worker process does the work,
  :mod:`firmware.unit.understanding.service`); results come back through ``ctx.post``. To be
  quick, the audio is handed over as soon as the customer pauses (:data:`PAUSE_NS`): by the
  time the silence confirms the answer has ended, its meaning is usually known.
- NEXT is refused ``missing_answer`` until the meaning is known, then ``answer_negative`` or
  ``answer_unclear`` unless it is affirmative. A negative or unclear answer buzzes the panel
  and the unit's voice tells the salesperson to explain and press REPLAY (:data:`NOTICE`,
  played through the prompter); REPLAY asks again: a new window once the prompt has replayed.
- On the chain, per window: the heard text in a sealed file ``NODE-answer-N.json``
  (encrypted at rest like every session file), then an EVENT ``answer`` with the meaning, the
  time range and that file's SHA-256.

``ctx.values["answer"]`` holds the latest ``{"node", "attempt", "meaning"}`` for other parts
(the customer's screen). A recogniser that cannot load makes every answer ``unclear`` with its
reason on the chain and sounds the fault signal: an answer is never accepted unheard.
"""
from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.quality import NodeOutcome
from firmware.unit.session.script import ScriptNode
from firmware.unit.session.session_end import UNDERSTOOD
from firmware.unit.understanding.answers import word_lists_sha256
from firmware.unit.understanding.service import Heard, RecogniserUnavailable, Understanding

log = logging.getLogger(__name__)

NS = 1_000_000_000
#: What the unit says after a negative or unclear answer (a fixed text, rendered ahead).
NOTICE = "客户没有明确同意。请销售人员向客户解释清楚，然后按重播键，再问一次。"
PREROLL_NS = 3 * NS            # audio kept before the window opens (the prompt's end is seen late)
PAUSE_NS = 200_000_000         # a pause this long hands the answer so far to the recogniser
HANGOVER_NS = 800_000_000      # silence this long after speech ends the answer
EXTEND_NS = 4 * NS             # the most a window grows while the customer is still speaking
MIN_SPEECH_NS = 100_000_000    # less voiced audio than this is not speech (a click, a cough)
VOICE_DBFS = -42.0             # a block louder than this (and the room's floor + 12 dB) is voiced
FLOOR_MARGIN_DB = 12.0
MAX_ERROR_CHARS = 300


def block_dbfs(pcm: bytes) -> float:
    """The level of 16-bit PCM in dB relative to full scale (-inf for digital silence)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    if not len(samples):
        return -math.inf
    power = float(np.dot(samples, samples.astype(np.float64))) / len(samples)
    return 10.0 * math.log10(power / 32768.0 ** 2) if power > 0 else -math.inf


@dataclass
class _Job:
    window: "_Window"
    seq: int
    final: bool
    pcm: bytes
    end_ns: int                 # the audio handed over ends here


@dataclass
class _Window:
    """One answer window's audio and the customer's speech in it (guarded by the part's lock)."""

    node: str
    attempt: int
    start_ns: int
    deadline_ns: int
    rate: int
    channels: int
    threshold_db: float
    blocks: list[bytes] = field(default_factory=list)
    audio_start_ns: int | None = None
    audio_end_ns: int = 0
    voiced_ns: int = 0
    speech_end_ns: int | None = None     # the end of the last voiced block
    seq: int = 0                          # candidates handed over
    cut_ns: int = 0                       # the newest candidate's audio ends here
    final_seq: int | None = None          # the candidate whose result is the answer
    closed: bool = False                  # no more audio is taken
    results: dict[int, tuple[Heard | None, str | None, int]] = field(default_factory=dict)
    committed: bool = False

    def take(self, first_ns: int, frames: int, pcm: bytes) -> tuple[_Job | None, bool]:
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

    def _job(self, final: bool) -> _Job:
        self.seq += 1
        self.cut_ns = self.audio_end_ns
        if final:
            self.final_seq = self.seq
        return _Job(self, self.seq, final, b"".join(self.blocks), self.audio_end_ns)


class AnswerPart(SessionPart):
    """``understanding`` does the recognition (this part closes it); ``say(node, text)``
    plays a text through the prompter and returns its play; ``prepare(texts, wpm)`` renders
    texts ahead (the prompter's). ``rate``/``channels`` are the microphone's."""

    name = "answers"

    def __init__(self, understanding: Understanding, *, rate: int, channels: int,
                 say: Callable[[str, str], Any],
                 prepare: Callable[[list[str], int], None] | None = None,
                 notice: str = NOTICE) -> None:
        self._understanding = understanding
        self._rate, self._channels = rate, channels
        self._say, self._prepare, self.notice = say, prepare, notice
        self._lock = threading.Lock()
        self._ring: deque[tuple[int, int, bytes]] = deque()
        self._armed = False                      # an answer node is running
        self._window: _Window | None = None
        self._ctx: SessionContext | None = None
        self._lists: dict = {}
        self._lists_sha256 = ""
        self._node: str | None = None
        self._attempt = 0
        self._meaning: str | None = None
        self._notice_play = None
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._recognise, name="answer-recogniser",
                                        daemon=True)
        self._thread.start()
        self._closed = False

    # -- the flow's thread ------------------------------------------------------------------
    def session_started(self, ctx: SessionContext) -> None:
        template = ctx.binding.template
        self._ctx, self._lists = ctx, dict(template.answers)
        self._lists_sha256 = word_lists_sha256(self._lists) if self._lists else ""
        if any("answer" in n.requires for n in template.nodes):
            self._jobs.put(("warm", None))
            if self._prepare is not None:
                self._prepare([self.notice], template.words_per_minute)

    def node_started(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome) -> None:
        with self._lock:
            self._armed = "answer" in node.requires
            self._window, self._ring = None, deque()
        self._node, self._attempt, self._meaning = node.id, 0, None

    def prompt_started(self, ctx, node, run, play) -> None:
        if "answer" in node.requires and play is not self._notice_play:
            with self._lock:
                self._window = None              # a replay: what comes next is the answer
            self._meaning = None
            self._jobs.put(("warm", None))

    def replayed(self, ctx, node, run) -> None:
        with self._lock:
            self._window = None
        self._meaning = None

    def prompt_ended(self, ctx, node, run, play) -> None:
        if "answer" not in node.requires or play is self._notice_play or node.id != self._node:
            return
        self._attempt += 1
        self._meaning = None
        start = play.playback.ended_ns
        with self._lock:
            floor = min((block_dbfs(pcm) for first, frames, pcm in self._ring
                         if first + frames * NS // self._rate >= start - 2 * NS),
                        default=-math.inf)
            window = _Window(node.id, self._attempt, start,
                             start + int(node.answer_seconds * NS), self._rate, self._channels,
                             max(VOICE_DBFS, min(floor + FLOOR_MARGIN_DB, -25.0)))
            self._window = window
            jobs, promoted = [], False
            for first, frames, pcm in self._ring:
                job, made = window.take(first, frames, pcm)
                jobs += [job] if job else []
                promoted = promoted or made
        for job in jobs:
            self._jobs.put(("job", job))
        if promoted:
            self._try_commit(window)

    def refusal(self, ctx, node, run, now_ns) -> str | None:
        if "answer" not in node.requires:
            return None
        if self._meaning is None:
            return "missing_answer"
        if self._meaning == "negative":
            return "answer_negative"
        if self._meaning == "unclear":
            return "answer_unclear"
        return None

    def node_ending(self, ctx, node, run) -> None:
        with self._lock:
            self._armed, self._window, self._ring = False, None, deque()

    def session_ending(self, ctx: SessionContext) -> None:
        with self._lock:
            self._armed, self._window, self._ring = False, None, deque()

    def session_ended(self, ctx: SessionContext, summary: dict) -> None:
        self._ctx = None
        self._jobs.put(("release", None))       # the worker's memory back while idle

    def close(self) -> None:
        """Stop the recognition thread and the understanding worker; safe twice."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(("stop", None))
        self._understanding.abort()             # an answer being heard is not waited for
        self._thread.join(timeout=30)
        self._understanding.close()

    # -- the microphone's thread ------------------------------------------------------------
    def audio_block(self, block) -> None:
        """Keep the block if an answer node runs; hand a pause's audio to the recogniser."""
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
        if job is not None:
            self._jobs.put(("job", job))
        if promoted and self._ctx is not None:
            self._ctx.post(lambda: self._try_commit(window))

    # -- the recogniser's thread ------------------------------------------------------------
    def _recognise(self) -> None:
        while True:
            kind, job = self._jobs.get()
            if kind == "stop":
                return
            try:
                if kind == "warm":
                    self._understanding.prepare()
                elif kind == "release":
                    self._understanding.release()
                else:
                    self._hear(job)
            except Exception as exc:  # noqa: BLE001 - warm/release failures show at the answer
                log.warning("speech understanding (%s): %s", kind, exc)

    def _hear(self, job: _Job) -> None:
        with self._lock:
            stale = (job.window is not self._window
                     or job.window.final_seq not in (None, job.seq)
                     or (not job.final and job.window.seq > job.seq))
        if stale:
            return
        began = time.monotonic()
        heard, error = None, None
        try:
            heard = self._understanding.answer(job.pcm, self._rate, self._channels,
                                               self._lists)
        except RecogniserUnavailable as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure means "not understood", on record
            error = f"{type(exc).__name__}: {exc}"
        wall_ms = int((time.monotonic() - began) * 1000)
        ctx = self._ctx
        if ctx is not None:
            ctx.post(lambda: self._result(job, heard, error, wall_ms))

    # -- back on the flow's thread ----------------------------------------------------------
    def _result(self, job: _Job, heard: Heard | None, error: str | None, wall_ms: int) -> None:
        with self._lock:
            job.window.results[job.seq] = (heard, error, wall_ms)
        self._try_commit(job.window)

    def _try_commit(self, window: _Window) -> None:
        with self._lock:
            if window is not self._window or window.committed or window.final_seq is None \
                    or window.final_seq not in window.results:
                return
            window.committed = True
            heard, error, wall_ms = window.results[window.final_seq]
        ctx = self._ctx
        if ctx is not None:
            self._decide(ctx, window, heard, error, wall_ms)

    def _decide(self, ctx: SessionContext, w: _Window, heard: Heard | None, error: str | None,
                wall_ms: int) -> None:
        meaning = heard.meaning if heard is not None and heard.meaning else "unclear"
        base = w.audio_start_ns if w.audio_start_ns is not None else w.start_ns
        segments = heard.segments if heard is not None else ()
        text = {"node": w.node, "attempt": w.attempt, "heard": heard.text if heard else "",
                "segments": [{"start_ns": base + int(s * NS), "end_ns": base + int(e * NS),
                              "text": t} for s, e, t in segments]}
        sealed = ctx.seal(f"{w.node}-answer-{w.attempt}.json",
                          (json.dumps(text, ensure_ascii=False, sort_keys=True, indent=1)
                           + "\n").encode("utf-8"),
                          {"stream": "answer_text", "node": w.node, "attempt": w.attempt})
        decided = ctx.now_ns()
        data = {"node": w.node, "attempt": w.attempt, "meaning": meaning,
                "word": heard.word if heard is not None else None,
                "start_ns": w.start_ns, "end_ns": w.cut_ns,
                "speech_start_ns": text["segments"][0]["start_ns"] if segments else None,
                "speech_end_ns": text["segments"][-1]["end_ns"] if segments else None,
                "voice_end_ns": w.speech_end_ns, "decided_ns": decided,
                "heard_file": sealed.files[0].path, "heard_sha256": sealed.files[0].sha256,
                "words_sha256": self._lists_sha256, "wall_ms": wall_ms,
                "recognise_ms": int(heard.recognise_s * 1000) if heard else None,
                "cpu_ms": int(heard.cpu_s * 1000) if heard else None}
        if error is not None:
            data["error"] = error[:MAX_ERROR_CHARS]
        ctx.event("answer", data)
        self._meaning = meaning
        ctx.values["answer"] = {"node": w.node, "attempt": w.attempt, "meaning": meaning}
        if meaning == "affirmative":
            ctx.values.setdefault(UNDERSTOOD, set()).add(w.node)
        else:
            ctx.values.setdefault(UNDERSTOOD, set()).discard(w.node)
        end = w.speech_end_ns if w.speech_end_ns is not None else w.cut_ns
        log.info("answer at %s (attempt %d): %s, known %.0f ms after the answer's end",
                 w.node, w.attempt, meaning, (decided - end) / 1e6)
        if error is not None:
            ctx.signal("fault")
        if meaning != "affirmative":
            ctx.signal("refused")
            try:
                self._notice_play = self._say(w.node, self.notice)
            except Exception as exc:  # noqa: BLE001 - the refusal stands without the voice
                log.error("the answer notice could not be played: %s", exc)
