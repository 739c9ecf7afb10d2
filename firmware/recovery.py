"""Recovery: seal what a power cut (or a full disk, or a crash) left open. Never deletes evidence.

Run by ``dualrec recover SPOOL`` and by the daemon at every start, before BOOT. It

1. moves a torn ledger tail (a partial last record) into ``recovered/`` and truncates the
   ledger to its last whole record;
2. seals every ``.part`` file (renamed to its final name) and adopts files of open sessions
   that were renamed but not yet recorded;
3. records one GAP (kind ``power_cut``) per affected session saying what was found, and
   between which times media may be missing;
4. closes every session that was open with a SESSION_END (``closed_by: recovery``), and
   appends a CHECKPOINT.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from drivers.clock import Clock
from firmware import records
from firmware.evidence import SessionState, session_manifest
from firmware.keys import DeviceKey
from firmware.ledger import Ledger, fsync_dir
from firmware.ledger_files import last_complete_record, ledger_files, read_lines
from firmware.records import FileEntry, Record
from firmware.spool import PART_SUFFIX, RECOVERED_DIR, SESSIONS_DIR, Spool, hash_file

log = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    """What recovery found and did; empty lists mean the last stop was clean."""

    torn_bytes: int = 0
    sealed_parts: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    closed_sessions: list[str] = field(default_factory=list)
    unclean_stop: bool = False
    records_appended: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.records_appended)


def _repair_tail(spool: Spool) -> tuple[int, Path | None, int]:
    """Cut a partial last record off the ledger; the cut bytes go to ``recovered/``."""
    for path in reversed(ledger_files(spool.ledger_dir)):
        size = path.stat().st_size
        if size == 0:
            continue
        last, good_len = last_complete_record(path)
        if good_len == size:
            return 0, None, 0
        next_seq = last.seq + 1 if last else int(path.name.split(".")[0])
        rescue_dir = spool.root / RECOVERED_DIR
        rescue_dir.mkdir(exist_ok=True)
        rescue = rescue_dir / f"ledger-tail-{next_seq:012d}-{os.getpid()}.bin"
        with open(path, "rb") as f:
            f.seek(good_len)
            torn = f.read()
        with open(rescue, "wb") as f:
            f.write(torn)
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(rescue_dir)
        with open(path, "r+b") as f:
            f.truncate(good_len)
            os.fsync(f.fileno())
        log.warning("ledger %s: cut a partial record of %d bytes (kept in %s)",
                    path, len(torn), rescue)
        return len(torn), rescue, next_seq
    return 0, None, 0


def _since_last_boot(spool: Spool) -> tuple[Record | None, dict[str, SessionState]]:
    """The last record, and the sessions opened since the last BOOT and not closed."""
    last: Record | None = None
    newest_first: list[Record] = []
    for path in reversed(ledger_files(spool.ledger_dir)):
        chunk = [ln.record for ln in read_lines(path) if ln.record is not None]
        if last is None and chunk:
            last = chunk[-1]
        boot_at = next((i for i in range(len(chunk) - 1, -1, -1)
                        if chunk[i].type == records.BOOT), None)
        if boot_at is not None:
            newest_first.extend(reversed(chunk[boot_at:]))
            break
        newest_first.extend(reversed(chunk))
    sessions: dict[str, SessionState] = {}
    ended: set[str] = set()
    for record in reversed(newest_first):
        sid = record.session
        if record.type == records.SESSION_START:
            sessions[sid] = SessionState(sid, record.seq)
        elif record.type == records.SESSION_END:
            ended.add(sid)
        elif sid in sessions:
            sessions[sid].files.extend(record.files)
            kind = record.data.get("stream", record.type.lower())
            sessions[sid].counts[kind] = sessions[sid].counts.get(kind, 0) + 1
    return last, {sid: s for sid, s in sessions.items() if sid not in ended}


def _stopped_cleanly(spool: Spool) -> bool:
    """The chain ends in SHUTDOWN or in recovery's own CHECKPOINT (other CHECKPOINTs may follow
    a SHUTDOWN)."""
    for path in reversed(ledger_files(spool.ledger_dir)):
        for ln in reversed(list(read_lines(path))):
            rec = ln.record
            if rec is None or rec.type != records.CHECKPOINT:
                return rec is not None and rec.type == records.SHUTDOWN
            if rec.data.get("after") == "recovery":
                return True
    return True


def _seal_part(spool: Spool, part: Path) -> FileEntry:
    final = part.with_name(part.name[:-len(PART_SUFFIX)])
    n = 1
    while final.exists():  # never overwrite a sealed file
        final = part.with_name(f"{part.name[:-len(PART_SUFFIX)]}.recovered-{n}")
        n += 1
    with open(part, "rb") as f:
        os.fsync(f.fileno())
    os.rename(part, final)
    fsync_dir(final.parent)
    digest, size = hash_file(final)
    return FileEntry(final.relative_to(spool.root).as_posix(), digest, size)


def _session_of(rel: str) -> str | None:
    parts = rel.split("/")
    return parts[1] if parts[0] == SESSIONS_DIR and len(parts) > 2 else None


def recover(spool: Spool | str | os.PathLike, key: DeviceKey, clock: Clock, *,
            device_id: str, checkpoint_every: int = 100) -> RecoveryReport:
    """Bring ``spool`` back to a sealed, verifiable state. Idempotent: a clean spool is untouched."""
    spool = spool if isinstance(spool, Spool) else Spool(spool)
    report = RecoveryReport()
    if not ledger_files(spool.ledger_dir):
        parts = spool.part_files()
        if not parts:
            return report
    report.torn_bytes, rescue, torn_seq = _repair_tail(spool)
    last, open_sessions = _since_last_boot(spool)
    report.unclean_stop = last is not None and not _stopped_cleanly(spool)
    parts = spool.part_files()
    if not (report.torn_bytes or parts or open_sessions or report.unclean_stop):
        return report

    ledger = Ledger(spool.ledger_dir, key, device_id, clock, checkpoint_every=0)
    by_session: dict[str | None, list[FileEntry]] = {}
    for part in parts:
        entry = _seal_part(spool, part)
        report.sealed_parts.append(entry.path)
        by_session.setdefault(_session_of(entry.path), []).append(entry)
    for sid, state in open_sessions.items():
        covered = {f.path for f in state.files} | {f.path for f in by_session.get(sid, [])}
        session_dir = spool.session_dir(sid)
        if session_dir.is_dir():
            for path in sorted(session_dir.iterdir()):
                rel = path.relative_to(spool.root).as_posix()
                if path.is_file() and rel not in covered:
                    digest, size = hash_file(path)
                    by_session.setdefault(sid, []).append(FileEntry(rel, digest, size))
                    report.adopted.append(rel)
    if rescue is not None:
        digest, size = hash_file(rescue)
        by_session.setdefault(None, []).insert(
            0, FileEntry(rescue.relative_to(spool.root).as_posix(), digest, size))

    now = clock.sample()
    last_seen = ({"seq": last.seq, "mono_ns": last.body["mono_ns"], "wall_ns": last.body["wall_ns"],
                  "boot_id": last.body["boot_id"], "type": last.type} if last else None)
    affected = set(by_session) | set(open_sessions) or {None}
    for sid in sorted(affected, key=lambda s: s or ""):
        entries = by_session.get(sid, [])
        data = {"kind": "power_cut" if report.unclean_stop else "unsealed_files",
                "last_record": last_seen,
                "start_ns": last_seen["mono_ns"] if last_seen else 0,
                "end_ns": now.monotonic_ns, "end_boot_id": now.boot_id,
                "torn_ledger_bytes": report.torn_bytes if sid is None else 0,
                "torn_from_seq": torn_seq if sid is None else 0,
                "sealed_parts": [e.path for e in entries if e.path in report.sealed_parts],
                "adopted": [e.path for e in entries if e.path in report.adopted],
                "lost": "media captured after the last write reached the disk, up to this "
                        "recovery; recovered files may end mid-frame"}
        ledger.append(records.GAP, sid, entries, data)
        report.records_appended += 1
        if sid in open_sessions:
            state = open_sessions[sid]
            state.files.extend(entries)
            state.counts["recovered"] = state.counts.get("recovered", 0) + 1
    for sid, state in sorted(open_sessions.items()):
        ledger.append(records.SESSION_END, sid, data={
            "manifest": session_manifest(state.files, state.counts, state.start_seq),
            "closed_by": "recovery", "complete": False})
        report.closed_sessions.append(sid)
        report.records_appended += 1
    ledger.checkpoint({"after": "recovery"})
    report.records_appended += 1
    ledger.close()
    log.warning("recovered %s: %d parts sealed, %d files adopted, %d sessions closed, "
                "%d torn bytes", spool.root, len(report.sealed_parts), len(report.adopted),
                len(report.closed_sessions), report.torn_bytes)
    return report
