"""The session part that keeps, for the post-session check, a copy of the session's audio
encrypted with a check key of its own (:mod:`~firmware.unit.speech_check.keys`), and a job
describing what to check (:mod:`~firmware.unit.speech_check.jobs`).

On the microphone's thread it only queues each block (bounded: a stalled disk loses blocks
for the check, counted, never audio of the recording); a writer thread of its own encrypts and
writes them, syncing about every :data:`SYNC_S` seconds so that a power cut loses little.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Callable

from firmware.evidence import durable
from firmware.evidence.crypto import EncryptingWriter, SessionKey
from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.speech_check.jobs import AUDIO_NAME, FRAME, JobStore
from firmware.unit.speech_check.keys import LocalKey

log = logging.getLogger(__name__)

QUEUE_BLOCKS = 1500            # 30 s of 20 ms blocks
SYNC_S = 2.0
JOB_VERSION = 1


class AudioCopyPart(SessionPart):
    """``head_seq()`` is the chain's newest record (where to look for the session's records);
    ``forbidden`` the misleading phrases in force; ``on_started(sid)`` and ``on_ready(sid)``
    tell the checker a session began (pause) and that its copy is complete (check it)."""

    name = "speech_copy"

    def __init__(self, store: JobStore, local_key: LocalKey, *, rate: int, channels: int,
                 forbidden: list[str], head_seq: Callable[[], int],
                 on_started: Callable[[str], None], on_ready: Callable[[str], None]) -> None:
        self._store, self._local_key = store, local_key
        self._rate, self._channels = rate, channels
        self._forbidden = list(forbidden)
        self._head_seq = head_seq
        self._on_started, self._on_ready = on_started, on_ready
        self._queue: queue.Queue | None = None
        self._writer: threading.Thread | None = None
        self._dropped = 0
        self._error: str | None = None
        self._session: str | None = None

    def session_started(self, ctx: SessionContext) -> None:
        self._on_started(ctx.session_id)
        key = SessionKey.generate()
        try:
            fd = self._start_job(ctx, key)
        except Exception as exc:  # noqa: BLE001 - the session goes on; the chain says why
            key.forget()
            log.error("speech check: no audio copy for %s: %s", ctx.session_id, exc)
            ctx.event("speech_check", {"status": "unavailable",
                                       "reason": f"{type(exc).__name__}: {exc}"[:300]})
            return
        self._session, self._dropped, self._error = ctx.session_id, 0, None
        self._queue = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._writer = threading.Thread(target=self._write, args=(fd, key, self._queue),
                                        name="speech-copy", daemon=True)
        self._writer.start()

    def _start_job(self, ctx: SessionContext, key: SessionKey) -> int:
        template = ctx.binding.template
        job = {"version": JOB_VERSION, "session": ctx.session_id, "state": "recording",
               "rate": self._rate, "channels": self._channels,
               "check_key": self._local_key.wrap(key, ctx.session_id),
               "from_seq": self._head_seq(), "template": template.as_record(),
               "required": {n.id: list(n.required_phrases) for n in template.nodes
                            if n.required_phrases},
               "salesperson": {n.id: list(n.salesperson_phrases) for n in template.nodes
                               if n.salesperson_phrases},
               "forbidden": self._forbidden, "attempts": 0, "progress": 0}
        self._store.create(ctx.session_id, job)
        return durable.open_new(self._store.audio_path(ctx.session_id), durable.SECRET_MODE)

    def audio_block(self, block) -> None:
        """On the microphone's thread: queue the block for the writer, never wait."""
        q = self._queue
        if q is None:
            return
        try:
            q.put_nowait((block.first_sample_ns, block.sample_index, block.frames, block.pcm))
        except queue.Full:
            self._dropped += 1

    def session_ending(self, ctx: SessionContext) -> None:
        """The recording has stopped: finish the copy (the writer ends after the last block)."""
        q, writer = self._queue, self._writer
        self._queue = self._writer = None
        if q is not None and writer is not None:
            q.put(None)
            writer.join()

    def session_ended(self, ctx: SessionContext, summary: dict) -> None:
        sid, self._session = self._session, None
        if sid is None:
            return
        job = self._store.read(sid)
        job.update(state="ready", dropped_blocks=self._dropped, copy_error=self._error)
        self._store.write(sid, job)
        self._on_ready(sid)

    def close(self) -> None:
        self.session_ending(None)  # type: ignore[arg-type]  # only the queue is used

    # -- the writer's thread ----------------------------------------------------------------
    def _write(self, fd: int, key: SessionKey, q: queue.Queue) -> None:
        file = os.fdopen(fd, "wb")
        writer = EncryptingWriter(file, key, AUDIO_NAME)
        synced, ended = time.monotonic(), False
        try:
            while True:
                item = q.get()
                if item is None:
                    ended = True
                    break
                first_ns, index, frames, pcm = item
                writer.write(FRAME.pack(first_ns, index, frames) + pcm)
                if time.monotonic() - synced >= SYNC_S:
                    writer.flush()
                    file.flush()
                    os.fsync(file.fileno())
                    synced = time.monotonic()
            writer.finish()
            file.flush()
            os.fsync(file.fileno())
        except Exception as exc:  # noqa: BLE001 - the check says its copy is incomplete
            self._error = f"{type(exc).__name__}: {exc}"[:300]
            log.error("speech check: the audio copy of %s failed: %s", self._session, exc)
            while not ended:                # keep draining until the session ends
                ended = q.get() is None
        finally:
            key.forget()
            file.close()
