"""The device's append-only, hash-linked, signed ledger (the writer side)."""
from __future__ import annotations

import base64
import errno
import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

from drivers.clock import Clock
from firmware.evidence import durable, records
from firmware.evidence.durable import fsync_dir
from firmware.errors import LedgerClosedError, StorageError, storage_error
from firmware.evidence.keys import DeviceKey
from firmware.evidence.ledger_files import last_complete_record, ledger_files, ledger_name, read_lines
from firmware.evidence.ledger_health import LedgerHealth
from firmware.evidence.records import FileEntry, Record

log = logging.getLogger(__name__)


class TornLedgerError(StorageError):
    """The ledger's last file ends in a partial record: run recovery (``dualrec recover``)."""


class Ledger:
    """Appends records to ``SPOOL/ledger``; each is fsync'd before :meth:`append` returns.

    ``checkpoint_every``: a CHECKPOINT record follows every that many records.
    ``roll_bytes``: a new ledger file starts when the current one grows past this size.
    ``on_record`` is called (in the appending thread) with each record after it is durable.
    A failed write stops the ledger: every later append raises :class:`LedgerClosedError`.
    """

    def __init__(self, ledger_dir: Path, key: DeviceKey, device_id: str, clock: Clock, *,
                 checkpoint_every: int = 100, roll_bytes: int = 8 * 1024 * 1024,
                 on_record: Callable[[Record], None] | None = None,
                 health: LedgerHealth | None = None, checkpoint_seconds: float = 0) -> None:
        self.dir = Path(ledger_dir)
        self.key = key
        self.device_id = device_id
        self.clock = clock
        self.checkpoint_every = checkpoint_every
        self.checkpoint_ns = int(checkpoint_seconds * 1e9)
        self._last_checkpoint_ns = clock.monotonic_ns()
        self.roll_bytes = roll_bytes
        self.on_record = on_record
        self._lock = threading.RLock()
        self._file = None
        self._file_size = 0
        self._failed: str | None = None
        self._closed = False
        self._roll_pending = False
        durable.ensure_dir(self.dir)
        if health is not None:
            # recovery read the ledger: continue from its last good record, after whatever
            # damaged lines follow it (they stay as they are; the DAMAGE record names them)
            self.head: Record | None = health.head
        else:
            self.head = self._find_head()
        self._last_checkpoint = self._find_last_checkpoint()
        if self.head is None:
            self._append_unlocked(records.KEY, None, [], self._key_data(key, None))

    def _find_head(self) -> Record | None:
        for path in reversed(ledger_files(self.dir)):
            size = os.lstat(path).st_size
            if size == 0:
                continue
            record, good_len = last_complete_record(path)
            if good_len != size:
                raise TornLedgerError(errno.EIO, f"{path} ends in a partial record "
                                      f"({size - good_len} bytes after the last good one); "
                                      "run `dualrec recover SPOOL`")
            return record
        return None

    def _checkpoint_due(self) -> bool:
        """Every ``checkpoint_every`` records, and — while records keep coming, as during a
        recording — every ``checkpoint_seconds``, so witnesses see a session as it goes."""
        since = self._since_checkpoint()
        if self.checkpoint_every and since >= self.checkpoint_every:
            return True
        return bool(self.checkpoint_ns and since and self.clock.monotonic_ns()
                    - self._last_checkpoint_ns >= self.checkpoint_ns)

    def _since_checkpoint(self) -> int:
        """Records after the last CHECKPOINT (or the start of the chain): the next
        checkpoint's ``records_since_checkpoint``."""
        return (self.head.seq if self.head else 0) - self._last_checkpoint

    def _find_last_checkpoint(self) -> int:
        """The seq of the newest CHECKPOINT at or before the head (0: none), reading the
        newest ledger files backwards until one is found."""
        if self.head is None:
            return 0
        if self.head.type == records.CHECKPOINT:
            return self.head.seq
        for path in reversed(ledger_files(self.dir)):
            if durable.lkind(path) != "regular":
                continue
            found = 0
            for ln in read_lines(path):
                rec = ln.record
                if rec is not None and rec.type == records.CHECKPOINT \
                        and rec.seq <= self.head.seq:
                    found = rec.seq
            if found:
                return found
        return 0

    @staticmethod
    def _key_data(new: DeviceKey, old: DeviceKey | None, prev_hash: str = "") -> dict:
        data: dict[str, Any] = {"algorithm": "ed25519", "public_key": new.public.b64,
                                "fingerprint": new.public.fingerprint,
                                "reason": "genesis" if old is None else "rotation"}
        if old is not None:
            proof = new.sign(records.KEY_PROOF_CONTEXT + prev_hash.encode() + b"\n"
                             + new.public.b64.encode())
            data["proof"] = base64.b64encode(proof).decode()
            data["previous_fingerprint"] = old.public.fingerprint
        return data

    # -- writing ----------------------------------------------------------------------------
    def append(self, type: str, session: str | None = None,
               files: list[FileEntry] | None = None, data: dict[str, Any] | None = None) -> Record:
        """Sign and durably append one record; a CHECKPOINT may follow it automatically."""
        with self._lock:
            record = self._append_unlocked(type, session, files or [], data or {})
            if type != records.CHECKPOINT and self._checkpoint_due():
                self.checkpoint()
            return record

    def checkpoint(self, data: dict[str, Any] | None = None) -> Record:
        """Append a CHECKPOINT: a signed statement of the head, for witnesses to keep."""
        with self._lock:
            count = self._since_checkpoint()
            return self._append_unlocked(records.CHECKPOINT, None, [],
                                         {"records_since_checkpoint": count, **(data or {})})

    def rotate_key(self, new_key: DeviceKey) -> Record:
        """Switch to ``new_key``: a KEY record signed by the old key holding the new key's proof."""
        with self._lock:
            prev = self.head.hash if self.head else records.GENESIS_PREV
            record = self._append_unlocked(records.KEY, None, [],
                                           self._key_data(new_key, self.key, prev))
            self.key = new_key
            return record

    def roll(self) -> None:
        """Start a new ledger file at the next append (after a session ends, for instance)."""
        with self._lock:
            self._close_file()

    def _append_unlocked(self, type: str, session: str | None, files: list[FileEntry],
                         data: dict[str, Any]) -> Record:
        if self._closed:
            raise LedgerClosedError("the ledger is closed")
        if self._failed:
            raise LedgerClosedError(f"the ledger stopped after a failed write ({self._failed}); "
                                    "restart to recover")
        seq = self.head.seq + 1 if self.head else 1
        prev = self.head.hash if self.head else records.GENESIS_PREV
        body = records.make_body(seq=seq, prev=prev, type=type, device=self.device_id,
                                 session=session, clock=self.clock.sample().as_record(),
                                 files=files, data=data,
                                 key_fingerprint=self.key.public.fingerprint)
        record = records.sign_body(body, self.key.sign)
        line = record.line()
        if self._file is not None and self._file_size + len(line) > self.roll_bytes:
            self._close_file()
        path = None
        try:
            if self._file is None:
                path = self._open_file(seq)
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            self._failed = str(exc)
            raise storage_error(exc, f"ledger record {seq} to {path or self._file.name}") from exc
        self._file_size += len(line)
        self.head = record
        if type == records.CHECKPOINT:
            self._last_checkpoint = seq
            self._last_checkpoint_ns = self.clock.monotonic_ns()
        if self.on_record is not None:
            self.on_record(record)
        return record

    def _open_file(self, seq: int) -> Path:
        files = ledger_files(self.dir)
        last = files[-1] if files else None
        if last is not None and not self._roll_pending and durable.lkind(last) == "regular" \
                and os.lstat(last).st_size < self.roll_bytes:
            path = last
        else:
            path = self.dir / ledger_name(seq)
        self._file = os.fdopen(durable.open_append(path), "ab")
        self._file_size = os.fstat(self._file.fileno()).st_size
        self._roll_pending = False
        fsync_dir(self.dir)
        return path

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._file_size = 0
        self._roll_pending = True

    def close(self) -> None:
        """Close the ledger file; safe to call twice."""
        with self._lock:
            self._close_file()
            self._roll_pending = False
            self._closed = True

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
