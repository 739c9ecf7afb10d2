"""The post-session speech check: on a thread of its own, while the unit is idle, each closed
session's audio copy is transcribed, checked against its template and the forbidden phrases,
and the result sealed about the session; then the copy and its keys are destroyed.

A session that starts pauses the check after the piece being transcribed (a piece is at most
20 s of audio; the understanding worker is then stopped, its memory back); the check resumes
when the session has ended. Jobs left by a restart (or a power cut) are resumed at
:meth:`SpeechChecker.start`. A job that fails :data:`MAX_ATTEMPTS` times is given up with an
EVENT ``speech_check`` (``status: "failed"``) on the chain, and destroyed all the same: the
audio copy is never kept indefinitely.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from firmware.evidence.crypto import DecryptingReader
from firmware.evidence.store import Evidence
from firmware.unit.speech_check.findings import check_speech
from firmware.unit.speech_check.jobs import AUDIO_NAME, JobStore, audio_frames
from firmware.unit.speech_check.keys import LocalKey, open_blob, seal_blob
from firmware.unit.speech_check.sealing import seal_check
from firmware.unit.speech_check.session_records import read_session
from firmware.unit.speech_check.transcript import AudioFacts, Progress, pieces, transcribe
from firmware.unit.understanding.service import Understanding

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
KEEP_RESULTS = 32             # the latest checks' outcomes kept for status
DONE, PAUSED, WAITING, FAILED, RETRY = "done", "paused", "waiting", "failed", "retry"


class SpeechChecker:
    """See the module docstring. ``session_started``/``session_ready`` come from the audio
    copy part (the flow's thread); everything else runs on the checker's thread."""

    def __init__(self, evidence: Evidence, understanding: Understanding, store: JobStore,
                 local_key: LocalKey, *, retry_s: float = 60.0) -> None:
        self._evidence = evidence
        self._retry_s = retry_s
        self._understanding = understanding
        self._store = store
        self._local_key = local_key
        self._cond = threading.Condition()
        self._pending: list[str] = []
        self._recording = False
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.failure: str | None = None       # the last job that failed, and why
        self.results: dict[str, dict] = {}    # session -> what its check sealed (for status)

    def start(self) -> None:
        """Resume the jobs a restart left, and start the thread."""
        with self._cond:
            self._pending = [s for s in self._store.sessions() if s not in self._pending] \
                + self._pending
        self._thread = threading.Thread(target=self._run, name="speech-check", daemon=True)
        self._thread.start()

    def session_started(self, session_id: str) -> None:
        with self._cond:
            self._recording = True

    def session_ready(self, session_id: str) -> None:
        with self._cond:
            self._recording = False
            if session_id not in self._pending:
                self._pending.append(session_id)
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Until nothing is pending or being checked (tests, the demo)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy and (
                not self._pending or self._recording), timeout)

    @property
    def pending(self) -> list[str]:
        with self._cond:
            return list(self._pending)

    def close(self) -> None:
        """Stop now (the piece being transcribed is done again at the next start); safe
        twice."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._understanding.abort()             # a piece being transcribed is done again
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._understanding.close()

    # -- the thread -------------------------------------------------------------------------
    def _paused(self) -> bool:
        with self._cond:
            return self._recording or self._stopping

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or (self._pending
                                                               and not self._recording))
                if self._stopping:
                    return
                session_id, self._busy = self._pending[0], True
            try:
                outcome = self._check(session_id)
            except Exception as exc:  # noqa: BLE001 - counted, retried, then given up on record
                if self._paused():            # stopped under it (close): not a failure
                    outcome = PAUSED
                else:
                    log.exception("speech check of %s failed", session_id)
                    outcome = self._failed(session_id, f"{type(exc).__name__}: {exc}")
            with self._cond:
                self._busy = False
                if outcome in (DONE, FAILED, WAITING) and session_id in self._pending:
                    self._pending.remove(session_id)
                self._cond.notify_all()
            if outcome in (PAUSED, RETRY):
                self._understanding.release()
            if outcome == RETRY:                  # a failure: not again at once
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping, self._retry_s)

    def _check(self, session_id: str) -> str:
        job = self._store.read(session_id)
        session = read_session(self._evidence.spool.root, session_id,
                               int(job.get("from_seq") or 0))
        if not session.ended:
            return WAITING                    # still recording: session_ready brings it back
        if session.checked_seq is not None:   # sealed before a restart: only clean up
            self._destroy(session_id)
            return DONE
        key = self._local_key.unwrap(job["check_key"], session_id)
        try:
            context = f"{session_id}/partial"
            saved = self._store.read_partial(session_id)
            progress = Progress.from_json(open_blob(key, saved, context)) if saved \
                else Progress()
            facts = AudioFacts()
            with DecryptingReader(self._store.audio_path(session_id), key, AUDIO_NAME,
                                  allow_truncated=True) as reader:
                rate, channels = int(job["rate"]), int(job["channels"])
                done = transcribe(
                    pieces(audio_frames(iter(reader), channels), session.prompts, rate, facts),
                    progress, self._understanding, rate=rate, channels=channels,
                    should_pause=self._paused,
                    save=lambda p: self._store.write_partial(
                        session_id, seal_blob(key, p.to_json(), context)))
                truncated = bool(reader.truncated)
        finally:
            key.forget()
        if not done:
            return PAUSED
        if facts.samples == 0:
            return self._failed(session_id, "the audio copy holds no audio", final=True)
        findings = check_speech(progress.segments, session, job, self._understanding)
        audio = {"first_sample_ns": facts.first_sample_ns, "end_ns": facts.end_ns,
                 "samples": facts.samples, "rate": rate, "channels": channels,
                 "holes": facts.holes, "pcm_sha256": facts.pcm_sha256,
                 "copy_truncated": truncated,
                 "dropped_blocks": int(job.get("dropped_blocks") or 0)}
        transcribed = {"pieces": progress.pieces, "segments": len(progress.segments),
                       "audio_ms": int(progress.audio_s * 1000),
                       "cpu_ms": int(progress.cpu_s * 1000),
                       "recognise_ms": int(progress.recognise_s * 1000)}
        record = seal_check(self._evidence, session, segments=progress.segments,
                            findings=findings, audio=audio, transcribed=transcribed, job=job)
        self.results[session_id] = {"seq": record.seq, "verdict": record.data["verdict"],
                                    "findings": [f.check for f in findings]}
        while len(self.results) > KEEP_RESULTS:
            del self.results[next(iter(self.results))]
        log.info("speech check of %s: %d findings, verdict %s (%.0f s of audio, %.1f CPU-s)",
                 session_id, len(findings), record.data["verdict"], progress.audio_s,
                 progress.cpu_s)
        self._destroy(session_id)
        return DONE

    def _failed(self, session_id: str, reason: str, *, final: bool = False) -> str:
        self.failure = f"{session_id}: {reason}"
        try:
            job = self._store.read(session_id)
            job["attempts"] = int(job.get("attempts") or 0) + 1
            self._store.write(session_id, job)
            final = final or job["attempts"] >= MAX_ATTEMPTS
        except (OSError, ValueError):
            final = True                       # an unreadable job is not tried again
        if not final:
            return RETRY
        self._evidence.event("speech_check", {"status": "failed", "reason": reason[:300]},
                             session_id=session_id)
        self._destroy(session_id)
        return FAILED

    def _destroy(self, session_id: str) -> None:
        """The copy, its partial transcript and its wrapped check key deleted; the local key
        too once no other job needs it."""
        self._store.destroy(session_id)
        if not self._store.sessions():
            self._local_key.destroy()


def speech_check_state(state_dir: Path | str) -> tuple[JobStore, LocalKey]:
    """The job store and the unit-local key under a spool's ``state/``."""
    store = JobStore(state_dir)
    return store, LocalKey(store.local_key_path)
