"""The backlog when nothing uploads (``[sync] enabled = false``): every file sealed on the
chain is evidence not yet confirmed in the cloud.

Counted from the chain once (the records up to ``boundary``, the head when the unit started,
read lazily on the first telemetry) and then from each new record as it becomes durable, so
no record is counted twice. Files pruned after an earlier upload (a GAP ``pruned``) are taken
off. The age is that of the oldest sealed file still counted as of its record's wall time.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from firmware.evidence import records
from firmware.evidence.chain import chain_records
from firmware.evidence.records import Record
from firmware.unit.sync.report import Backlog


class ChainBacklog:
    def __init__(self, spool_root: Path, boundary: int) -> None:
        self.spool_root = Path(spool_root)
        self.boundary = boundary
        self._lock = threading.Lock()
        self._scanned = False
        self._items = self._bytes = 0
        self._oldest_ns: int | None = None

    def _count(self, record: Record) -> None:
        if record.type == records.GAP and record.data.get("kind") == "pruned":
            for item in record.data.get("files_pruned") or []:
                if isinstance(item, dict) and isinstance(item.get("size"), int):
                    self._items -= 1
                    self._bytes -= item["size"]
            return
        if record.files:
            self._items += len(record.files)
            self._bytes += sum(f.size for f in record.files)
            wall = record.body.get("wall_ns")
            if isinstance(wall, int) and (self._oldest_ns is None or wall < self._oldest_ns):
                self._oldest_ns = wall

    def on_record(self, record: Record) -> None:
        """A new record (after the boundary), once durable."""
        if record.seq <= self.boundary:
            return
        with self._lock:
            self._count(record)

    def backlog(self) -> Backlog:
        """What waits for a cloud copy now (the first call reads the chain up to the
        boundary)."""
        with self._lock:
            if not self._scanned:
                for record in chain_records(self.spool_root):
                    if record.seq > self.boundary:
                        break
                    self._count(record)
                self._scanned = True
            items, size, oldest = max(0, self._items), max(0, self._bytes), self._oldest_ns
        now = time.time_ns()
        age = None if oldest is None or not items else max(0.0, (now - oldest) / 1e9)
        return Backlog(items=items, bytes=size, oldest_sealed_wall_ns=oldest if items else None,
                       oldest_age_s=age, at_wall_ns=now)
