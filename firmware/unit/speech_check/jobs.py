"""Pending post-session checks on disk: ``SPOOL/state/speech-check/<session-id>/``.

Operational state, not evidence (``dualrec verify`` ignores ``state/``), and never personal
data in the clear:

- ``job.json`` — what the check needs that the chain does not say: the microphone's format,
  the phrase lists in force when the session was recorded, the check key wrapped by the
  unit-local key, the job's state and progress (no personal data);
- ``audio.enc`` — the copy of the session's audio, encrypted with the check key as it was
  recorded (the chunked AES-256-GCM format of docs/encryption.md, bound to the name
  :data:`AUDIO_NAME`): frames of ``first_sample_ns, sample_index, frames`` (little-endian
  int64, int64, uint32) then that block's PCM;
- ``partial.enc`` — what was transcribed so far (JSON, sealed with the check key), so that a
  check cut off by a power cut or a session resumes where it was.
"""
from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any, Iterator

from firmware.evidence import durable

ROOT_NAME = "speech-check"
JOB_FILE = "job.json"
AUDIO_FILE = "audio.enc"
PARTIAL_FILE = "partial.enc"
AUDIO_NAME = "speech-check-audio"          # the name the audio copy is encrypted under
LOCAL_KEY_FILE = "local.key"
FRAME = struct.Struct("<qqI")              # first_sample_ns, sample_index, frames
MAX_JOB_BYTES = 256 * 1024
MAX_PARTIAL_BYTES = 16 * 1024 * 1024
_SESSION_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")


class JobStore:
    """The pending checks under ``state_dir/speech-check`` (see the module docstring)."""

    def __init__(self, state_dir: Path | str) -> None:
        self.root = Path(state_dir) / ROOT_NAME

    @property
    def local_key_path(self) -> Path:
        return self.root / LOCAL_KEY_FILE

    def job_dir(self, session_id: str) -> Path:
        if not _SESSION_ID.fullmatch(session_id):
            raise ValueError(f"{session_id!r} is not a session id")
        return self.root / session_id

    def create(self, session_id: str, job: dict[str, Any]) -> Path:
        directory = self.job_dir(session_id)
        durable.ensure_dir(directory, 0o700)
        self.write(session_id, job)
        return directory

    def write(self, session_id: str, job: dict[str, Any]) -> None:
        durable.write_atomic(self.job_dir(session_id) / JOB_FILE,
                             json.dumps(job, sort_keys=True, ensure_ascii=False).encode("utf-8"),
                             durable.SECRET_MODE)

    def read(self, session_id: str) -> dict[str, Any]:
        data = durable.read_regular(self.job_dir(session_id) / JOB_FILE, MAX_JOB_BYTES)
        job = json.loads(data.decode("utf-8"))
        if not isinstance(job, dict) or job.get("session") != session_id:
            raise ValueError(f"{session_id}: {JOB_FILE} is not this session's job")
        return job

    def sessions(self) -> list[str]:
        """Every session with a job directory, oldest first (never through a symlink)."""
        if durable.lkind(self.root) != "directory":
            return []
        return sorted(entry.name for entry in os.scandir(self.root)
                      if _SESSION_ID.fullmatch(entry.name) and durable.lkind(entry.path)
                      == "directory")

    def audio_path(self, session_id: str) -> Path:
        return self.job_dir(session_id) / AUDIO_FILE

    def write_partial(self, session_id: str, blob: bytes) -> None:
        durable.write_atomic(self.job_dir(session_id) / PARTIAL_FILE, blob, durable.SECRET_MODE)

    def read_partial(self, session_id: str) -> bytes | None:
        path = self.job_dir(session_id) / PARTIAL_FILE
        if durable.lkind(path) == "missing":
            return None
        return durable.read_regular(path, MAX_PARTIAL_BYTES)

    def destroy(self, session_id: str) -> None:
        """Delete the job: the audio copy, the partial transcript, the wrapped check key."""
        directory = self.job_dir(session_id)
        if durable.lkind(directory) != "directory":
            return
        for entry in os.scandir(directory):
            os.unlink(entry.path)
        os.rmdir(directory)
        durable.fsync_dir(self.root)


def audio_frames(plain: Iterator[bytes], channels: int) -> Iterator[tuple[int, int, int, bytes]]:
    """The blocks of a decrypted audio copy (see the module docstring), given its plaintext in
    pieces; a block cut by a power cut at the end is dropped."""
    buffer = bytearray()
    for piece in plain:
        buffer += piece
        while True:
            if len(buffer) < FRAME.size:
                break
            first_ns, index, frames = FRAME.unpack_from(buffer)
            frame_bytes = frames * 2 * channels
            if len(buffer) < FRAME.size + frame_bytes:
                break
            pcm = bytes(buffer[FRAME.size:FRAME.size + frame_bytes])
            del buffer[:FRAME.size + frame_bytes]
            yield first_ns, index, frames, pcm
