"""The durable outbox: events and checkpoints wait here, on disk, until the broker has them.

One JSON file per message in ``SPOOL/state/outbox/`` named by a 12-digit sequence number, so
the order survives restarts: ``{"v": 1, "kind": "event" | "checkpoint", "payload": {...}}``.
A file is complete before it gets its name (written as ``.tmp``, fsync'd, renamed, directory
fsync'd), so a power cut leaves either the whole message or none. Delivery is at least once:
a message whose acknowledgement arrived just before a power cut may be sent again (events carry
an ``id``, checkpoints a ``seq``, for receivers to drop repeats). A file that cannot be read is
moved to ``outbox/corrupt/`` and named in an :class:`OutboxCorruptError`; the rest still go.
"""
from __future__ import annotations

import json
import os
import re
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.protocol.mqtt.errors import OutboxCorruptError
from firmware.evidence import durable
from firmware.evidence.durable import fsync_dir
from firmware.errors import storage_error

KINDS = ("event", "checkpoint")
ENTRY_NAME = re.compile(r"^(\d{12})\.json$")
CORRUPT_DIR = "corrupt"


@dataclass(frozen=True)
class OutboxEntry:
    """One waiting message: its number, file, kind and MQTT payload."""

    seq: int
    path: Path
    kind: str
    payload: dict[str, Any]


class Outbox:
    """Messages on disk, oldest first. Thread-safe; one process owns a directory."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)
        self._lock = threading.Lock()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            for stale in self.dir.glob("*.tmp"):
                stale.unlink()  # never got its name: the put() did not return
        except OSError as exc:
            raise storage_error(exc, f"the outbox {self.dir}") from exc
        self._seqs: deque[int] = deque(sorted(
            int(m.group(1)) for p in self.dir.iterdir() if (m := ENTRY_NAME.match(p.name))))

    def __len__(self) -> int:
        with self._lock:
            return len(self._seqs)

    def _path(self, seq: int) -> Path:
        return self.dir / f"{seq:012d}.json"

    def put(self, kind: str, payload: dict[str, Any]) -> OutboxEntry:
        """Store one message durably (fsync'd before this returns)."""
        if kind not in KINDS:
            raise ValueError(f"outbox kind {kind!r} is not one of {', '.join(KINDS)}")
        data = json.dumps({"v": 1, "kind": kind, "payload": payload}, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        with self._lock:
            seq = self._seqs[-1] + 1 if self._seqs else 1
            path = self._path(seq)
            try:
                durable.create_new(path, data, durable.FILE_MODE)
            except OSError as exc:
                raise storage_error(exc, f"outbox message {path}") from exc
            self._seqs.append(seq)
        return OutboxEntry(seq, path, kind, payload)

    def peek(self) -> OutboxEntry | None:
        """The oldest message, or None when empty. A file that cannot be read is set aside and
        raised as :class:`OutboxCorruptError` (call again for the next message)."""
        with self._lock:
            if not self._seqs:
                return None
            seq = self._seqs[0]
            path = self._path(seq)
            try:
                raw = json.loads(path.read_bytes().decode("utf-8"))
                if (not isinstance(raw, dict) or raw.get("v") != 1 or raw.get("kind") not in KINDS
                        or not isinstance(raw.get("payload"), dict)):
                    raise ValueError("not an outbox message {v: 1, kind, payload}")
                return OutboxEntry(seq, path, raw["kind"], raw["payload"])
            except FileNotFoundError:
                self._seqs.popleft()
                raise OutboxCorruptError(f"outbox message {path} vanished; skipped") from None
            except (OSError, ValueError) as exc:  # UnicodeDecodeError, JSONDecodeError too
                self._seqs.popleft()
                aside = self._set_aside(path)
                raise OutboxCorruptError(f"outbox message {path} is unreadable ({exc}); set "
                                         f"aside as {aside}, the messages after it still go") \
                    from None

    def _set_aside(self, path: Path) -> Path:
        target_dir = self.dir / CORRUPT_DIR
        target = target_dir / path.name
        n = 1
        try:
            target_dir.mkdir(exist_ok=True)
            while target.exists():
                n += 1
                target = target_dir / f"{path.name}.{n}"
            os.rename(path, target)
            fsync_dir(self.dir)
        except OSError as exc:
            raise OutboxCorruptError(f"outbox message {path} is unreadable and could not be "
                                     f"set aside ({exc})") from None
        return target

    def remove(self, entry: OutboxEntry) -> None:
        """Forget a delivered message (the oldest)."""
        with self._lock:
            try:
                entry.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise storage_error(exc, f"outbox message {entry.path}") from exc
            if self._seqs and self._seqs[0] == entry.seq:
                self._seqs.popleft()
            elif entry.seq in self._seqs:
                self._seqs.remove(entry.seq)
