"""What in the spool is sealed and due for upload, in upload order.

Only sealed evidence leaves the unit: never a ``*.part`` file, a session file only once a record
of the chain seals it and that record is itself in the bucket, a ledger file as a whole only
once it is closed (a later ledger file exists), and the open ledger file as tail ranges of
complete records. Order: ``device/device.json``, then the ledger (oldest file first), then
media oldest first (in sealing order), so the bucket never holds a file its chain does not.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from firmware.evidence import durable, records
from firmware.evidence.chain import ledger_paths
from firmware.evidence.ledger_files import LEDGER_DIR
from firmware.evidence.records import MalformedRecord, parse_line
from firmware.evidence.spool import DEVICE_INFO
from firmware.protocol.bucket.layout import tail_rel

log = logging.getLogger(__name__)

DEVICE = "device"
LEDGER = "ledger"
TAIL = "ledger_tail"
MEDIA = "media"


@dataclass(frozen=True)
class Item:
    """One object to upload: bytes [offset, offset + size) of ``path`` under key ``rel``."""

    kind: str                    # DEVICE, LEDGER (a closed file), TAIL (a range), MEDIA
    rel: str                     # key relative to the device root (a spool path for files)
    path: Path
    size: int
    ledger: str                  # the ledger file it is, or whose record sealed it
    sha256: str | None = None    # hex, from the sealing record; None: hash the local bytes
    offset: int = 0
    seq: int = 0                 # sealing record (MEDIA)
    sealed_wall_ns: int = 0      # CLOCK_REALTIME ns of the sealing record, or of the file
    record_end: int = 0          # byte offset in ``ledger`` just past the sealing record
    session: str | None = None


@dataclass
class LedgerScan:
    """What one ledger file says: the files its records seal, the sessions they close."""

    name: str
    path: Path
    closed: bool
    complete_bytes: int = 0      # bytes up to the end of the last complete record
    size: int = 0                # the file's size when last scanned
    mtime_ns: int = 0
    media: list[Item] = field(default_factory=list)
    ended: dict[str, int] = field(default_factory=dict)  # session -> end of its SESSION_END
    first_wall_ns: int | None = None


def _scan_from(spool_root: Path, scan: LedgerScan) -> None:
    """Extend ``scan`` with the complete records after ``scan.complete_bytes``."""
    with durable.open_reading(scan.path) as f:
        f.seek(scan.complete_bytes)
        data = f.read()
    offset = scan.complete_bytes
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break  # being written; the next scan takes it
        end = offset + len(raw)
        try:
            rec = parse_line(raw)
        except MalformedRecord as exc:
            if not scan.closed:
                break  # the open file: wait for recovery or the writer, upload nothing past it
            log.warning("%s: a malformed record at byte %d (%s); uploaded as it is, "
                        "dualrec verify reports it", scan.path, offset, exc)
            offset = end
            continue
        wall = rec.body["wall_ns"]
        if scan.first_wall_ns is None:
            scan.first_wall_ns = wall
        for entry in rec.files:
            scan.media.append(Item(MEDIA, entry.path, spool_root / entry.path, entry.size,
                                   scan.name, entry.sha256, 0, rec.seq, wall, end,
                                   rec.session))
        if rec.type == records.SESSION_END and rec.session:
            scan.ended[rec.session] = end
        offset = end
    scan.complete_bytes = offset


class Planner:
    """Reads the spool's ledger for the uploader. Caches scans (closed files whole, the open
    file incrementally) up to ``max_cached_items`` sealed files, so a long backlog costs a
    bounded amount of memory. Not thread-safe: the uploader serialises its calls."""

    def __init__(self, spool_root: Path, max_cached_items: int = 100_000) -> None:
        self.root = Path(spool_root)
        self.max_cached_items = max_cached_items
        self._cache: OrderedDict[str, LedgerScan] = OrderedDict()

    def ledgers(self) -> list[tuple[str, Path, bool]]:
        """``(name, path, closed)`` of each ledger file, oldest first; only the last is open."""
        files = ledger_paths(self.root)
        return [(p.name, p, i < len(files) - 1) for i, p in enumerate(files)]

    def scan(self, name: str, path: Path, closed: bool) -> LedgerScan:
        st = os.stat(path)
        scan = self._cache.get(name)
        if scan is not None and (st.st_size < scan.complete_bytes
                                 or (scan.closed and st.st_mtime_ns != scan.mtime_ns)):
            scan = None  # the file shrank or changed: start over (recovery, or tampering)
        if scan is None:
            scan = LedgerScan(name, path, closed)
        if st.st_size > scan.complete_bytes or closed != scan.closed:
            scan.closed = closed
            _scan_from(self.root, scan)
        scan.mtime_ns, scan.size = st.st_mtime_ns, st.st_size
        self._cache[name] = scan
        self._cache.move_to_end(name)
        while sum(len(s.media) for s in self._cache.values()) > self.max_cached_items \
                and len(self._cache) > 1:
            self._cache.popitem(last=False)
        return scan

    def forget(self, name: str) -> None:
        """Drop a ledger file's scan (it is done)."""
        self._cache.pop(name, None)

    def device_item(self) -> Item | None:
        path = self.root / DEVICE_INFO
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return Item(DEVICE, DEVICE_INFO, path, st.st_size, "", sealed_wall_ns=st.st_mtime_ns)

    def whole_item(self, scan: LedgerScan) -> Item:
        return Item(LEDGER, f"{LEDGER_DIR}/{scan.name}", scan.path, scan.size,
                    scan.name, sealed_wall_ns=scan.first_wall_ns or 0)

    def tail_item(self, scan: LedgerScan, start: int) -> Item:
        return Item(TAIL, tail_rel(scan.name, start, scan.complete_bytes), scan.path,
                    scan.complete_bytes - start, scan.name, offset=start,
                    sealed_wall_ns=scan.first_wall_ns or 0)
