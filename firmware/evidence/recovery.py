"""Recovery: seal what a power cut (or a full disk, or a crash) left open; record damage that
a power cut cannot cause. Never deletes, rewrites or re-signs evidence.

Run by ``dualrec recover SPOOL`` and by the daemon at every start, before BOOT. It

1. reads the ledger (:mod:`firmware.evidence.ledger_health`): a torn tail — an incomplete last line of
   the newest ledger file, and nothing else — is copied to ``recovered/`` (atomically) and cut
   off; any other damage is left exactly as it is;
2. seals every ``.part`` file that is a regular file (renamed to its final name), and adopts
   regular files of open sessions that were renamed but not yet recorded; a ``.part`` that is
   a symlink, FIFO, device or directory is never opened: it is damage;
3. records one GAP (kind ``power_cut``) per affected session saying what was found, and
   between which times media may be missing;
4. closes every session that was open with a SESSION_END (``closed_by: recovery``);
5. appends one DAMAGE record naming everything damaged (file, offset, length, SHA-256 of the
   bytes) that an earlier recovery has not recorded yet, then a CHECKPOINT.

Damage makes :attr:`RecoveryReport.damage` non-empty: the daemon then refuses to record until
someone acknowledges it (``dualrec damage ack``); ``dualrec verify`` reports it forever.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from drivers.clock import Clock
from firmware.evidence import durable, records
from firmware.evidence.durable import NotRegularFileError, hash_regular
from firmware.errors import LedgerDamagedError
from firmware.evidence.session_manifest import SessionState, sealing_kind, session_manifest
from firmware.evidence.keys import DeviceKey
from firmware.evidence.ledger import Ledger
from firmware.evidence.ledger_files import read_lines
from firmware.evidence.ledger_health import Damage, LedgerHealth, damage_of_parts, inspect_ledger
from firmware.evidence.records import FileEntry, Record
from firmware.evidence.spool import PART_SUFFIX, RECOVERED_DIR, SESSIONS_DIR, STATE_DIR, Spool

log = logging.getLogger(__name__)

DAMAGE_STATE = "damage.json"     # in state/: damage recorded, and whether it was acknowledged


@dataclass
class RecoveryReport:
    """What recovery found and did; empty lists mean the last stop was clean."""

    torn_bytes: int = 0
    sealed_parts: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    closed_sessions: list[str] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)      # newly recorded this time
    damage_seq: int | None = None                           # the DAMAGE record's seq
    unclean_stop: bool = False
    records_appended: int = 0
    health: LedgerHealth | None = None

    @property
    def changed(self) -> bool:
        return bool(self.records_appended)


def _cut_tail(spool: Spool, health: LedgerHealth) -> tuple[int, Path | None, int]:
    """Copy the torn tail to ``recovered/`` (atomically), then cut it off the ledger."""
    torn = health.torn
    if torn is None:
        return 0, None, 0
    next_seq = health.head.seq + 1 if health.head else 1
    rescue_dir = durable.ensure_dir(spool.root / RECOVERED_DIR)
    fd = durable.open_regular(torn.path, os.O_RDWR)
    try:
        os.lseek(fd, torn.offset, os.SEEK_SET)
        data = os.read(fd, torn.length)
        rescue = rescue_dir / f"ledger-tail-{next_seq:012d}-{os.getpid()}.bin"
        n = 1
        while durable.lkind(rescue) != "missing":
            rescue = rescue_dir / f"ledger-tail-{next_seq:012d}-{os.getpid()}-{n}.bin"
            n += 1
        durable.create_new(rescue, data, durable.FILE_MODE)
        os.ftruncate(fd, torn.offset)
        os.fsync(fd)
    finally:
        os.close(fd)
    health.torn = None
    log.warning("ledger %s: cut a partial record of %d bytes (kept in %s)",
                torn.path, len(data), rescue)
    return len(data), rescue, next_seq


def _terminate_line(path: Path) -> None:
    """End an incomplete last line that must stay (it is damage) with a LF, so the records
    appended after it are lines of their own; its bytes are not changed."""
    fd = durable.open_append(path)
    try:
        os.write(fd, b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def _since_last_boot(health: LedgerHealth) -> tuple[Record | None, dict[str, SessionState],
                                                    bool]:
    """The last good record, the sessions opened since the last BOOT and not closed, and
    whether the chain ends in a clean stop (SHUTDOWN, or recovery's own CHECKPOINT)."""
    newest_first: list[Record] = []
    for path in reversed(health.files):
        try:
            chunk = [ln.record for ln in read_lines(path) if ln.record is not None
                     and (health.head is None or ln.record.seq <= health.head.seq)]
        except (OSError, ValueError):
            continue
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
        elif sid in sessions and record.files:
            sessions[sid].files.extend(record.files)
            kind = sealing_kind(record)
            sessions[sid].counts[kind] = sessions[sid].counts.get(kind, 0) + 1
    clean = True
    for rec in newest_first:
        if rec.type == records.CHECKPOINT and rec.data.get("after") != "recovery":
            continue
        clean = rec.type == records.SHUTDOWN or (rec.type == records.CHECKPOINT)
        break
    last = health.head
    return last, {s: st for s, st in sessions.items() if s not in ended}, clean


def _seal_part(spool: Spool, part: Path) -> FileEntry:
    """Rename a regular ``.part`` to its final name (never over a sealed file) and hash it.
    The file is opened (without following links) before anything is renamed."""
    fd = durable.open_regular(part)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    final = part.with_name(part.name[:-len(PART_SUFFIX)])
    n = 1
    while durable.lkind(final) != "missing":  # never overwrite a sealed file
        final = part.with_name(f"{part.name[:-len(PART_SUFFIX)]}.recovered-{n}")
        n += 1
    os.rename(part, final)
    durable.fsync_dir(final.parent)
    digest, size = hash_regular(final)
    return FileEntry(final.relative_to(spool.root).as_posix(), digest, size)


def _session_of(rel: str) -> str | None:
    parts = rel.split("/")
    return parts[1] if parts[0] == SESSIONS_DIR and len(parts) > 2 else None


def _adopt(spool: Spool, sid: str, covered: set[str], report: RecoveryReport,
           by_session: dict[str | None, list[FileEntry]]) -> None:
    """Regular files in an open session's directory that no record covers yet."""
    session_dir = spool.session_dir(sid)
    if durable.lkind(session_dir) != "directory":
        return
    for entry in durable.walk(session_dir):
        rel = f"{SESSIONS_DIR}/{sid}/{entry.rel}"
        if rel in covered or entry.rel.endswith(PART_SUFFIX) or "/" in entry.rel:
            continue
        if entry.kind != "regular":
            if entry.kind != "directory":
                report.damage.append(Damage("not_regular_file", rel,
                                            f"a {entry.kind} in a session; left alone"))
            continue
        digest, size = hash_regular(spool.root / rel)
        by_session.setdefault(sid, []).append(FileEntry(rel, digest, size))
        report.adopted.append(rel)


def recover(spool: Spool | str | os.PathLike, key: DeviceKey, clock: Clock, *,
            device_id: str, checkpoint_every: int = 100) -> RecoveryReport:
    """Bring ``spool`` back to a sealed state (see the module docstring). Idempotent: a clean
    spool is untouched, and damage already recorded is not recorded again."""
    spool = spool if isinstance(spool, Spool) else Spool(spool)
    report = RecoveryReport()
    health = inspect_ledger(spool.ledger_dir, key.public)
    report.health = health
    parts = spool.part_files()
    found_damage = health.damage + damage_of_parts(spool.root, parts)
    parts = [p for p, kind in parts if kind == "regular"]
    if not health.files and not parts and not found_damage:
        return report
    if health.files and health.head is None and found_damage:
        raise LedgerDamagedError(f"{spool.ledger_dir}: no good record to continue the chain "
                                 f"from ({found_damage[0].kind} {found_damage[0].file}: "
                                 f"{found_damage[0].detail}); keep this spool for the "
                                 "auditors and give the unit a new one")
    last, open_sessions, clean = _since_last_boot(health)
    report.unclean_stop = last is not None and not clean
    rescue_kind = durable.lkind(spool.root / RECOVERED_DIR)
    if rescue_kind not in ("missing", "directory"):
        found_damage.append(Damage("not_regular_file", RECOVERED_DIR, f"a {rescue_kind} where "
                                   "recovered/ should be; nothing is written through it"))
        if health.torn is not None:  # it cannot be set aside, so it is never cut: damage
            t = health.torn
            found_damage.append(Damage("torn_tail", t.path.relative_to(spool.root).as_posix(),
                                       "an incomplete last line that could not be set aside",
                                       t.offset, t.length))
            health.torn = None
            _terminate_line(t.path)  # new records start on a line of their own after it
    known = _recorded_damage(spool)
    report.damage = [d for d in found_damage if d.identity not in known]
    report.torn_bytes, rescue, torn_seq = _cut_tail(spool, health)
    if not (report.torn_bytes or parts or open_sessions or report.unclean_stop
            or report.damage):
        return report

    ledger = Ledger(spool.ledger_dir, key, device_id, clock, checkpoint_every=0, health=health)
    by_session: dict[str | None, list[FileEntry]] = {}
    for part in parts:
        try:
            entry = _seal_part(spool, part)
        except NotRegularFileError as exc:  # swapped since it was listed
            report.damage.append(Damage("not_regular_file", part.relative_to(spool.root)
                                        .as_posix(), str(exc)))
            continue
        report.sealed_parts.append(entry.path)
        by_session.setdefault(_session_of(entry.path), []).append(entry)
    for sid, state in open_sessions.items():
        covered = {f.path for f in state.files} | {f.path for f in by_session.get(sid, [])}
        _adopt(spool, sid, covered, report, by_session)
    if rescue is not None:
        digest, size = hash_regular(rescue)
        by_session.setdefault(None, []).insert(
            0, FileEntry(rescue.relative_to(spool.root).as_posix(), digest, size))

    now = clock.sample()
    last_seen = ({"seq": last.seq, "mono_ns": last.body["mono_ns"], "wall_ns": last.body["wall_ns"],
                  "boot_id": last.body["boot_id"], "type": last.type} if last else None)
    affected = set(by_session) | set(open_sessions)
    if report.torn_bytes or report.unclean_stop:
        affected |= {None}
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
        if sid in open_sessions and entries:
            state = open_sessions[sid]
            state.files.extend(entries)
            state.counts["recovered"] = state.counts.get("recovered", 0) + 1
    for sid, state in sorted(open_sessions.items()):
        ledger.append(records.SESSION_END, sid, data={
            "manifest": session_manifest(state.files, state.counts, state.start_seq),
            "closed_by": "recovery", "complete": False})
        report.closed_sessions.append(sid)
        report.records_appended += 1
    if report.damage:
        rec = ledger.append(records.DAMAGE, None, [], {
            "found_by": "recovery", "items": [d.as_record() for d in report.damage],
            "note": "not what a power cut leaves: the damaged bytes are kept as they are"})
        report.damage_seq = rec.seq
        report.records_appended += 1
        log.error("evidence damage found in %s (DAMAGE record %d): %s", spool.root, rec.seq,
                  "; ".join(f"{d.kind} {d.file}: {d.detail}" for d in report.damage))
    ledger.checkpoint({"after": "recovery"})
    report.records_appended += 1
    ledger.close()
    if report.damage:
        _remember_damage(spool, report)
    log.warning("recovered %s: %d parts sealed, %d files adopted, %d sessions closed, "
                "%d torn bytes, %d damaged", spool.root, len(report.sealed_parts),
                len(report.adopted), len(report.closed_sessions), report.torn_bytes,
                len(report.damage))
    return report


# -- what was recorded already (state/, not evidence: losing it only repeats a DAMAGE record) --
def _damage_path(spool: Spool) -> Path:
    return spool.root / STATE_DIR / DAMAGE_STATE


def read_damage_state(spool: Spool) -> dict:
    """``{"recorded": [identities], "unacknowledged": [DAMAGE seqs]}`` (empty when absent or
    unreadable)."""
    try:
        raw = json.loads(durable.read_regular(_damage_path(spool), 1 << 20))
        if isinstance(raw, dict) and isinstance(raw.get("recorded"), list) \
                and isinstance(raw.get("unacknowledged"), list):
            return raw
    except (OSError, ValueError):
        pass
    return {"recorded": [], "unacknowledged": []}


def _recorded_damage(spool: Spool) -> set[str]:
    return {str(i) for i in read_damage_state(spool)["recorded"]}


def _remember_damage(spool: Spool, report: RecoveryReport) -> None:
    state = read_damage_state(spool)
    state["recorded"] = sorted(set(state["recorded"]) | {d.identity for d in report.damage})
    state["unacknowledged"] = sorted(set(state["unacknowledged"]) | {report.damage_seq})
    durable.ensure_dir(spool.root / STATE_DIR)
    durable.write_atomic(_damage_path(spool), json.dumps(state, indent=1).encode())


def acknowledge_damage(spool: Spool) -> list[int]:
    """Mark all recorded damage as seen by a person; returns the DAMAGE records acknowledged.
    The records stay on the chain: verify still reports them."""
    state = read_damage_state(spool)
    acked = [int(s) for s in state["unacknowledged"]]
    state["unacknowledged"] = []
    durable.ensure_dir(spool.root / STATE_DIR)
    durable.write_atomic(_damage_path(spool), json.dumps(state, indent=1).encode())
    return acked
