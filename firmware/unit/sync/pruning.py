"""Freeing local space: confirmed session files leave the unit through ``Evidence.prune_files``.

A file is deleted only when (1) its object was confirmed by HEAD when it was uploaded, (2) a
fresh HEAD right now still shows the same size and checksum, (3) its session has ended, and
(4) the local retention policy allows it (old enough, or the disk is low and early pruning is
allowed), and (5) the bucket gave it a version id. ``Evidence.prune_files`` first appends a
signed GAP record (kind ``pruned``) naming each file with its object key, version and checksum,
then deletes them, so the chain says what left, why, and where the copy is: ``dualrec verify
--bucket`` checks that copy.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Protocol

from firmware.protocol.bucket.errors import ObjectConflictError
from firmware.unit.sync.retention import NS_PER_DAY, DiskStatus, LocalRetention
from firmware.unit.sync.state import Confirmed, SyncStateDB
from firmware.unit.sync.transfer import ObjectWriter

log = logging.getLogger(__name__)


class PruneTarget(Protocol):
    """What the pruner needs of :class:`firmware.evidence.store.Evidence`."""

    def prune_files(self, files: list[dict], data: dict | None = None): ...


class Pruner:
    """Deletes confirmed files of ended sessions that the policy lets go, in batches."""

    def __init__(self, evidence: PruneTarget, spool_root, state: SyncStateDB,
                 writer: ObjectWriter, policy: LocalRetention,
                 disk: Callable[[], DiskStatus], now_wall_ns: Callable[[], int], *,
                 target: str, workers: int = 4, batch: int = 500) -> None:
        self.evidence = evidence
        self.spool_root = spool_root
        self.state = state
        self.writer = writer
        self.policy = policy
        self.disk = disk
        self.now_wall_ns = now_wall_ns
        self.target = target
        self.workers = workers
        self.batch = batch

    def _cutoff(self) -> tuple[int | None, bool]:
        """Sealed-before time for files the policy lets go (None: any), and disk lowness."""
        low = self.disk().low
        if low and self.policy.prune_early_when_low_disk:
            return None, True
        return self.now_wall_ns() - int(self.policy.keep_days * NS_PER_DAY), low

    def _still_there(self, c: Confirmed) -> bool:
        """A fresh HEAD: the object is there with the checksum confirmed at upload. Network
        trouble propagates (the run stops; nothing is pruned unconfirmed)."""
        try:
            head = self.writer.confirm(c.key, c.size, {c.checksum, c.checksum.split("-")[0]})
        except ObjectConflictError as exc:
            log.error("not pruning %s: %s", c.rel, exc)
            return False
        if head is None:
            log.error("not pruning %s: its object %s is no longer in the bucket", c.rel, c.key)
        return head is not None

    def run(self, stop: Callable[[], bool] = lambda: False) -> int:
        """Prune what may go; returns the number of files deleted. Stops early on ``stop``."""
        pruned = 0
        skipped: set[str] = set()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="sync-prune") as pool:
            while not stop():
                cutoff, low = self._cutoff()
                batch = [c for c in self.state.prune_candidates(cutoff, self.batch + len(skipped))
                         if c.key not in skipped][:self.batch]
                if not batch:
                    break
                gone = [c for c in batch if not (self.spool_root / c.rel).exists()]
                present = [c for c in batch if c not in gone]
                ok = [c for c, fine in zip(present, pool.map(self._still_there, present)) if fine]
                skipped.update(c.key for c in present if c not in ok)
                ok = [c for c in ok if c.version_id]  # no version: no proof of the copy
                if ok:
                    self.evidence.prune_files(
                        [{"path": c.rel, "sha256": c.sha256, "size": c.size, "key": c.key,
                          "version_id": c.version_id, "checksum": c.checksum} for c in ok],
                        {"reason": "cloud copy confirmed", "target": self.target,
                         "disk_low": low,
                         "keep_local_s": int(self.policy.keep_days * 86_400)})
                    log.info("pruned %d files confirmed in %s%s", len(ok), self.target,
                             " (disk low)" if low else "")
                self.state.mark_pruned([c.key for c in ok + gone], self.now_wall_ns())
                pruned += len(ok)
        return pruned
