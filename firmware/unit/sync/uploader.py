"""The uploader: the unit's sealed evidence into the insurer's bucket, for the daemon and the CLI.

    uploader = Uploader(spool_path, settings, clock=clock, evidence=evidence)
    uploader.start()                  # a background thread: a run every interval_s
    uploader.backlog()                # count, bytes, age of the oldest unsynced item
    uploader.recording_allowed()      # False when the disk is low: refuse new recordings
    uploader.close()                  # stops the thread, closes the state; safe twice

A run (:meth:`Uploader.run_once`) uploads ``device/device.json`` and the ledger first, then
media oldest first, then prunes local files the policy lets go (only with ``evidence``: the
once-off ``dualrec sync`` never deletes). See docs/sync.md.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from drivers.clock import Clock, SystemClock
from firmware.evidence.spool import STATE_DIR, Spool
from firmware.protocol.bucket import layout
from firmware.protocol.bucket.errors import (BucketRefusedError, EndpointUnavailableError,
                                  LocalFileLostError, LocalFileMismatchError,
                                  ObjectConflictError, ObjectRejectedError)
from firmware.unit.sync.plan import MEDIA, TAIL, Item, LedgerScan, Planner
from firmware.unit.sync.pruning import PruneTarget, Pruner
from firmware.unit.sync.report import Backlog, BacklogCounter, Progress, SyncResult
from firmware.unit.sync.retention import DiskStatus, disk_status
from firmware.unit.sync.settings import SyncSettings
from firmware.unit.sync.state import Confirmed, Conflict, SyncStateDB
from firmware.protocol.bucket.tails import tail_start
from firmware.unit.sync.throttle import TokenBucket
from firmware.unit.sync.transfer import ObjectWriter, Stored, Upload, b64

log = logging.getLogger(__name__)

_STOPPING = (EndpointUnavailableError, BucketRefusedError)
_PER_FILE = (LocalFileMismatchError, ObjectRejectedError, LocalFileLostError)


class Uploader:
    """Syncs one spool to one bucket. ``clock`` gives wall time (ages, schedule, retention).

    ``evidence``: the daemon's Evidence, through which confirmed files are pruned; None never
    deletes anything. ``client``: a boto3 S3 client (default: from ``settings``).
    ``on_result(SyncResult)`` after each background run, ``on_failure(exc)`` when the thread
    dies of an unexpected error, ``on_progress(Progress)`` after each object; all are called in
    the uploader's thread.
    """

    def __init__(self, spool: str | os.PathLike, settings: SyncSettings, *,
                 clock: Clock | None = None, evidence: PruneTarget | None = None,
                 client: Any = None,
                 on_result: Callable[[SyncResult], None] | None = None,
                 on_failure: Callable[[BaseException], None] | None = None,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.spool = Spool.open_existing(spool)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.evidence = evidence
        self.device_id = self.spool.read_device_info().device_id
        self.root = layout.device_root(settings.prefix, self.device_id)
        self.target = f"s3://{settings.bucket}/{self.root}"
        self.window = settings.window()
        self.on_result, self.on_failure, self.on_progress = on_result, on_failure, on_progress
        self.state = SyncStateDB(self.spool.root / STATE_DIR, settings.endpoint,
                                 settings.bucket, settings.prefix)
        try:
            if client is None:
                from firmware.unit.sync.s3client import make_client
                client = make_client(settings)
            self.client = client
            self.limiter = TokenBucket(settings.rate_limit)
            self.writer = ObjectWriter(client, settings.bucket, self.state,
                                       settings.retention(), self.limiter,
                                       part_size=settings.part_size,
                                       multipart_threshold=settings.multipart_threshold,
                                       now_wall_ns=self.clock.realtime_ns)
        except BaseException:
            self.state.close()
            raise
        self.planner = Planner(self.spool.root)
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._lost: set[str] = set()
        self._last_backlog = Backlog()
        self._closed = False

    def key(self, rel: str) -> str:
        return layout.object_key(self.root, rel)

    # -- one run --------------------------------------------------------------------------------
    def run_once(self, *, ignore_window: bool = False) -> SyncResult:
        """Upload what is due, confirm it, prune what may go. Network trouble ends the run
        early with ``result.error`` set (the rest waits for the next run); it never raises for
        it. ``ignore_window``: upload media even outside the schedule (``dualrec sync``)."""
        with self._run_lock:
            result = SyncResult()
            media_ok = ignore_window or self.window.is_open(self.clock.realtime_ns())
            start = self._last_backlog = self._scan_backlog()
            progress = Progress(start.items, start.bytes)
            try:
                self._send_meta(result, progress)
                self._send_media(result, progress, media_ok)
                if self.evidence is not None and not self._stop.is_set():
                    result.pruned = self._pruner().run(self._stop.is_set)
            except _STOPPING as exc:
                result.error = exc
                log.warning("sync to %s stopped: %s", self.target, exc)
            result.backlog = self._last_backlog = self._scan_backlog()
            return result

    def _send_meta(self, result: SyncResult, progress: Progress) -> None:
        """device.json, closed ledger files whole, the open one's new tail: in order."""
        items = []
        device = self.planner.device_item()
        if device is not None and self.state.confirmed(self.key(device.rel)) is None:
            items.append(device)
        done = self.state.done_ledgers()
        for name, path, closed in self.planner.ledgers():
            if name in done:
                continue
            scan = self.planner.scan(name, path, closed)
            if closed:
                if self.state.confirmed(self.key(f"ledger/{name}")) is None:
                    items.append(self.planner.whole_item(scan))
                continue
            start = self._tail_end(name)
            if scan.complete_bytes > start:
                items.append(self.planner.tail_item(scan, start))
        for item in items:
            self._account(self._send_one(item), result, progress)
            if result.error is not None:
                raise result.error

    def _tail_end(self, name: str) -> int:
        end = self.state.tail_end(name)
        if end is None:  # no local record (a new state DB): ask the bucket
            end = tail_start(self.client, self.settings.bucket, self.root, name)
            self.state.set_tail_end(name, end)
        return end

    def _send_media(self, result: SyncResult, progress: Progress, media_ok: bool) -> None:
        """Each not-done ledger file's media, oldest first, whose sealing record is uploaded."""
        done = self.state.done_ledgers()
        for name, path, closed in self.planner.ledgers():
            if name in done or self._stop.is_set():
                continue
            scan = self.planner.scan(name, path, closed)
            confirmed = self.state.confirmed_keys(name)
            whole = self.key(f"ledger/{name}") in confirmed
            up_to = scan.size if whole else (self.state.tail_end(name) or 0)
            self.state.mark_sessions_ended({s for s, end in scan.ended.items() if end <= up_to})
            due = [i for i in scan.media
                   if self.key(i.rel) not in confirmed and i.record_end <= up_to]
            if not media_ok:
                result.deferred += len(due)
                continue
            self._send_many(due, result, progress)
            confirmed = self.state.confirmed_keys(name) if due else confirmed
            if closed and whole and all(self.key(i.rel) in confirmed for i in scan.media):
                self.state.mark_ledger_done(name)
                self.planner.forget(name)

    def _send_many(self, items: list[Item], result: SyncResult, progress: Progress) -> None:
        if not items:
            return
        abort = threading.Event()

        def work(item: Item):
            if abort.is_set() or self._stop.is_set():
                return item, None
            outcome = self._send_one(item, abort.is_set)
            if isinstance(outcome, _STOPPING):
                abort.set()
            return item, outcome

        with ThreadPoolExecutor(self.settings.workers, thread_name_prefix="sync-put") as pool:
            for _item, outcome in pool.map(work, items):
                if outcome is not None:
                    self._account(outcome, result, progress)
        if result.error is not None:
            raise result.error

    def _send_one(self, item: Item, stop: Callable[[], bool] = lambda: False):
        """Upload and confirm one item; returns the Stored or the error (never raises those
        expected; anything else is a bug and propagates)."""
        key = self.key(item.rel)
        try:
            if item.kind == MEDIA and not item.path.exists():
                stored = self._check_missing(item, key)
            else:
                stored = self.writer.send(Upload(key, item.path, item.size, item.sha256,
                                                 item.offset),
                                          lambda: stop() or self._stop.is_set())
        except ObjectConflictError as exc:
            self.state.record_conflict(Conflict(key, item.rel, exc.expected, exc.found,
                                                self.clock.realtime_ns()))
            return exc
        except _PER_FILE + _STOPPING as exc:
            return exc
        except FileNotFoundError as exc:  # pruned or lost between the check and the read
            return LocalFileLostError(f"{item.rel}: {exc.strerror}")
        self.state.mark_confirmed(Confirmed(
            key, item.rel, item.kind, item.ledger, stored.sha256, item.size,
            item.sealed_wall_ns, stored.checksum, stored.version_id, item.session),
            self.clock.realtime_ns())
        if item.kind == TAIL:
            self.state.set_tail_end(item.ledger, item.offset + item.size)
        self._lost.discard(key)
        return stored

    def _check_missing(self, item: Item, key: str) -> Stored:
        """A sealed file not on the unit: fine if the bucket has it (checksum), else lost."""
        head = self.writer.head(key)
        if head is None:
            self._lost.add(key)
            raise LocalFileLostError(f"{item.rel} (record {item.seq}) is neither on the unit "
                                     f"nor in {self.target}")
        whole = b64(bytes.fromhex(item.sha256 or ""))
        found = (head.checksum or "").split("-")[0]
        if head.size != item.size or (found != whole
                                      and head.metadata.get("sha256") != item.sha256):
            raise ObjectConflictError(key, whole, f"{head.size} bytes, SHA-256 {found}")
        return Stored(key, item.sha256 or "", head.checksum or "", head.version_id, False,
                      item.size)

    def _account(self, outcome, result: SyncResult, progress: Progress) -> None:
        if isinstance(outcome, Stored):
            if outcome.written:
                result.uploaded += 1
                result.bytes_uploaded += outcome.size
            else:
                result.already += 1
            progress.files_done += 1
            progress.bytes_done += outcome.size if outcome.written else 0
            if self.on_progress is not None:
                self.on_progress(progress)
        elif isinstance(outcome, ObjectConflictError):
            log.error("%s", outcome)
            result.conflicts.append(outcome)
        elif isinstance(outcome, _STOPPING):
            result.error = result.error or outcome
        else:
            log.error("%s", outcome)
            result.problems.append(outcome)

    def _pruner(self) -> Pruner:
        return Pruner(self.evidence, self.spool.root, self.state, self.writer,
                      self.settings.local_retention(), self.disk_status,
                      self.clock.realtime_ns, target=self.target,
                      workers=self.settings.workers)

    # -- what is waiting ------------------------------------------------------------------------
    def _scan_backlog(self) -> Backlog:
        count = BacklogCounter()
        device = self.planner.device_item()
        if device is not None and self.state.confirmed(self.key(device.rel)) is None:
            count.add(device.size, device.sealed_wall_ns)
        done = self.state.done_ledgers()
        for name, path, closed in self.planner.ledgers():
            if name not in done:
                self._count_ledger(self.planner.scan(name, path, closed), count)
        return count.result(self.clock.realtime_ns(), len(self.state.conflicts()),
                            len(self._lost))

    def _count_ledger(self, scan: LedgerScan, count: BacklogCounter) -> None:
        confirmed = self.state.confirmed_keys(scan.name)
        if self.key(f"ledger/{scan.name}") not in confirmed:
            if scan.closed:
                count.add(scan.size, scan.first_wall_ns or 0)
            else:
                tail = self.state.tail_end(scan.name) or 0
                if scan.complete_bytes > tail:
                    count.add(scan.complete_bytes - tail, scan.first_wall_ns or 0)
        for item in scan.media:
            if self.key(item.rel) not in confirmed:
                count.add(item.size, item.sealed_wall_ns)

    def backlog(self) -> Backlog:
        """Sealed evidence not yet confirmed in the bucket, counted now from the ledger; while
        a run is under way, what that run counted last (its age brought up to now)."""
        if self._run_lock.acquire(blocking=False):
            try:
                self._last_backlog = self._scan_backlog()
                return self._last_backlog
            finally:
                self._run_lock.release()
        last = self._last_backlog
        now = self.clock.realtime_ns()
        age = None if last.oldest_sealed_wall_ns is None else max(
            0.0, (now - last.oldest_sealed_wall_ns) / 1e9)
        return dataclasses.replace(last, oldest_age_s=age, at_wall_ns=now)

    def conflicts(self) -> list[Conflict]:
        return self.state.conflicts()

    # -- local space ----------------------------------------------------------------------------
    def disk_status(self) -> DiskStatus:
        return disk_status(self.spool.root, self.settings.min_free_bytes)

    def recording_allowed(self) -> bool:
        """False when free space is below ``min_free_mb``: refuse new recordings (say so on the
        panel and over MQTT). Unsynced evidence is never deleted to make room."""
        return not self.disk_status().low

    # -- background thread ----------------------------------------------------------------------
    def start(self) -> None:
        """Run in a background thread: a run every ``interval_s`` (sooner after :meth:`wake`),
        backing off up to ``max_backoff_s`` while runs fail."""
        if self._closed:
            raise ValueError("the uploader is closed; make a new one")
        if self._thread is not None:
            raise ValueError("the uploader is running already")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sync", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Start the next run now (a session ended, the network came back)."""
        self._wake.set()

    def _loop(self) -> None:
        delay = 0.0
        try:
            while not self._stop.is_set():
                if self._wake.wait(delay):
                    self._wake.clear()
                if self._stop.is_set():
                    break
                result = self.run_once()
                if self.on_result is not None:
                    self.on_result(result)
                interval = self.settings.interval_s
                delay = interval if result.error is None else min(
                    max(delay * 2, interval), self.settings.max_backoff_s)
        except BaseException as exc:  # noqa: BLE001 - reported to the owner, thread ends
            self._failure = exc
            log.error("sync thread stopped by an unexpected error: %r", exc)
            if self.on_failure is not None:
                self.on_failure(exc)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def failure(self) -> BaseException | None:
        """The error that ended the background thread, if one did."""
        return self._failure

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop the background thread (the current object finishes; multipart stops between
        parts and resumes next time). Safe when not running."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def close(self) -> None:
        """Stop and close the state database; safe twice."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        with self._run_lock:
            self.state.close()

    def __enter__(self) -> "Uploader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
