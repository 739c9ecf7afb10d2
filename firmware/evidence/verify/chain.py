"""The verifier's walk over the ledger: every line, link, signature and key; what the records
say about sessions, files, prunings and damage (collected for the file checks).

Record ``data`` is untrusted input even when signed: every field used here is type-checked,
and a record whose signature does not verify is reported and otherwise trusted for nothing
(it cannot explain a pruning, for instance).
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.evidence import durable, records
from firmware.evidence.durable import NotRegularFileError
from firmware.errors import KeyFileError
from firmware.evidence.keys import PublicKey
from firmware.evidence.ledger_files import LEDGER_DIR, LEDGER_NAME, read_lines
from firmware.evidence.records import FileEntry, Record
from firmware.evidence.session_manifest import sealing_kind
from firmware.evidence.spool import RECOVERED_DIR, SESSIONS_DIR, Spool, safe_rel
from firmware.evidence.verify.report import VerifyReport

@dataclass
class SessionSeen:
    start: int | None = None
    end: Record | None = None
    files: list[FileEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    boots_after_start: int = 0
    orphan: int | None = None          # the first record seen before its SESSION_START


@dataclass
class Chain:
    """What a walk over the ledger collects."""

    covered: dict[str, tuple[FileEntry, int, str | None]] = field(default_factory=dict)
    sessions: dict[str, SessionSeen] = field(default_factory=dict)
    pruned: dict[str, dict] = field(default_factory=dict)    # path -> the GAP's item
    keys: list[PublicKey] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)      # only the seqs asked for
    want: set[int] = field(default_factory=set)


def _str(data: dict, key: str, default: str = "") -> str:
    value = data.get(key, default)
    return value if isinstance(value, str) else default


def _int(data: dict, key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ChainWalk:
    """One pass over the regular ledger files of ``spool`` from the ``anchor`` key."""

    def __init__(self, spool: Spool, anchor: PublicKey, report: VerifyReport,
                 want_hashes: set[int]) -> None:
        self.spool = spool
        self.report = report
        self.chain = Chain(keys=[anchor], want=set(want_hashes))
        self.current = anchor
        self.prev: Record | None = None
        self.last_checkpoint_seq = 0
        self.first_seq: int | None = None
        self.newest_synced_wall: int | None = None   # wall_ns of the newest synced record

    # -- files ---------------------------------------------------------------------------------
    def ledger_paths(self) -> list[Path]:
        report, found = self.report, []
        ledger_dir = self.spool.ledger_dir
        for name in sorted(p.name for p in ledger_dir.iterdir()):
            rel = f"{LEDGER_DIR}/{name}"
            kind = durable.lkind(ledger_dir / name)
            if not LEDGER_NAME.match(name):
                report.add("extra_file", f"a {kind} that is not a ledger file", file=rel)
            elif kind != "regular":
                report.add("not_regular_file", f"a {kind} named like a ledger file", file=rel)
            else:
                found.append(ledger_dir / name)
        return found

    def run(self) -> Chain:
        paths = self.ledger_paths()
        for index, path in enumerate(paths):
            self._file(path, newest=index == len(paths) - 1)
        if self.prev is not None:
            self.report.head_seq, self.report.head_hash = self.prev.seq, self.prev.hash
            self.report.first_seq = self.first_seq or 0
        return self.chain

    def _file(self, path: Path, newest: bool) -> None:
        report, rel = self.report, f"{LEDGER_DIR}/{path.name}"
        first = True
        try:
            lines = read_lines(path)
            empty = True
            for ln in lines:
                empty = False
                where = {"file": rel, "line": ln.line_no}
                rec = ln.record
                if rec is None:
                    torn = newest and not ln.complete
                    report.add("torn_tail" if torn else "malformed_record",
                               f"{ln.error} (bytes {ln.offset}..{ln.offset + ln.size})", **where)
                    continue
                if first and int(LEDGER_NAME.match(path.name).group(1)) != rec.seq:
                    report.add("misnamed_ledger_file", f"first record is {rec.seq}", file=rel)
                first = False
                self._record(rec, {**where, "record": rec.seq})
            if empty and not newest:
                report.add("empty_ledger_file", "an empty ledger file before the newest one",
                           file=rel)
        except (NotRegularFileError, OSError) as exc:
            report.add("not_regular_file", f"cannot be read as a ledger file: {exc}", file=rel)

    # -- records -------------------------------------------------------------------------------
    def _record(self, rec: Record, where: dict) -> None:
        report, chain, prev = self.report, self.chain, self.prev
        report.records += 1
        if self.first_seq is None:
            self.first_seq = rec.seq
        if rec.body["sync"].get("synced") is True:
            self.newest_synced_wall = max(self.newest_synced_wall or 0, rec.body["wall_ns"])
        if rec.body["device"] != report.device_id:
            report.add("foreign_device", f"record names device {rec.body['device']}", **where)
        expected = prev.seq + 1 if prev else 1
        if rec.seq == expected:
            if rec.prev != (prev.hash if prev else records.GENESIS_PREV):
                report.add("broken_link", "prev is not the hash of the record before", **where)
        elif rec.seq > expected:
            report.add("sequence_gap", f"records {expected}..{rec.seq - 1} are missing",
                       **where)
        else:
            report.add("reordered_record", f"expected record {expected}", **where)
        signed = False
        if rec.body["key"] != self.current.fingerprint:
            report.add("foreign_key", f"signed by key {rec.body['key'][:16]}…, expected "
                       f"{self.current.fingerprint[:16]}…", **where)
        elif not self.current.verify(rec.signature, records.SIGNING_CONTEXT + rec.body_bytes):
            report.add("bad_signature", "the signature does not verify", **where)
        else:
            signed = True
        if prev is not None and prev.body["boot_id"] == rec.body["boot_id"] \
                and rec.body["mono_ns"] < prev.body["mono_ns"]:
            report.add("time_went_backwards", "CLOCK_MONOTONIC is earlier than the record "
                       "before in the same boot", **where)
        if rec.seq == 1 or prev is None:
            self._first_record(rec, where)
        elif rec.type == records.KEY:
            self._key_record(rec, signed, where)
        self._checkpoint(rec, where)
        self._collect(rec, signed, where)
        if rec.seq in chain.want and rec.seq not in chain.hashes:
            chain.hashes[rec.seq] = rec.hash
        if prev is None or rec.seq > prev.seq:
            self.prev = rec

    def _first_record(self, rec: Record, where: dict) -> None:
        ok = (rec.seq == 1 and rec.type == records.KEY and _str(rec.data, "reason") == "genesis"
              and _str(rec.data, "public_key") == self.current.b64)
        if not ok:
            self.report.add("bad_first_record", "the chain must start with record 1, a genesis "
                            "KEY record introducing the trusted key", **where)

    def _key_record(self, rec: Record, signed: bool, where: dict) -> None:
        report = self.report
        data = rec.data
        if _str(data, "reason") != "rotation":
            report.add("bad_key_record", "only record 1 may be a genesis KEY record; others "
                       "must be rotations", **where)
            return
        try:
            new = PublicKey.from_b64(_str(data, "public_key"))
            proof = base64.b64decode(_str(data, "proof"), validate=True)
        except (KeyFileError, ValueError, binascii.Error) as exc:
            report.add("bad_key_record", f"rotation without a usable key or proof: {exc}",
                       **where)
            return
        if _str(data, "previous_fingerprint") != self.current.fingerprint:
            report.add("bad_key_record", "previous_fingerprint is not the current key's",
                       **where)
        message = records.KEY_PROOF_CONTEXT + rec.prev.encode() + b"\n" + new.b64.encode()
        if not new.verify(proof, message):
            report.add("bad_signature", "KEY rotation: the new key's proof does not verify",
                       **where)
            return
        if signed:
            self.chain.keys.append(new)
            self.current = new

    def _checkpoint(self, rec: Record, where: dict) -> None:
        """``records_since_checkpoint``: the records between the previous CHECKPOINT (or the
        start of the chain) and this one."""
        if rec.type != records.CHECKPOINT:
            return
        said = _int(rec.data, "records_since_checkpoint")
        expected = rec.seq - self.last_checkpoint_seq - 1
        if said != expected:
            self.report.add("checkpoint_mismatch", f"says {said} records since the previous "
                            f"checkpoint; the chain has {expected}", **where)
        self.last_checkpoint_seq = rec.seq

    def _collect(self, rec: Record, signed: bool, where: dict) -> None:
        report, chain, sid = self.report, self.chain, rec.session
        if rec.type == records.BOOT:
            for s in chain.sessions.values():
                if s.start is not None and s.end is None:
                    s.boots_after_start += 1
        elif rec.type == records.DAMAGE:
            items = rec.data.get("items")
            items = items if isinstance(items, list) else []
            what = "; ".join(f"{_str(i, 'kind')} {_str(i, 'file')} "
                             f"(+{_int(i, 'offset') or 0}, {_int(i, 'length') or 0} bytes)"
                             for i in items[:20] if isinstance(i, dict))
            report.add("recorded_damage", f"the unit recorded damage: {what or 'unspecified'}",
                       **where)
        elif rec.type == records.GAP:
            kind = _str(rec.data, "kind", "?")
            if kind == "pruned":
                self._pruned(rec, signed, where)
            else:
                report.note("gap", f"{kind}: {_int(rec.data, 'start_ns')}.."
                            f"{_int(rec.data, 'end_ns')} ns", session=sid, record=rec.seq)
        elif rec.type == records.EVENT and _str(rec.data, "kind") == "config":
            report.note("config", f"configuration in effect: {_str(rec.data, 'sha256')[:16]}… "
                        f"({_str(rec.data, 'source')})", record=rec.seq)
        if sid is not None:
            session = chain.sessions.setdefault(sid, SessionSeen())
            if rec.type == records.SESSION_START:
                session.start = rec.seq
            elif session.start is None and session.orphan is None:
                session.orphan = rec.seq
            if rec.files and session.end is None:   # the manifest covers up to SESSION_END
                kind = sealing_kind(rec)
                session.counts[kind] = session.counts.get(kind, 0) + 1
            if rec.type == records.SESSION_END:
                if session.end is None:
                    session.end = rec
                else:
                    report.add("session_ended_twice", f"session {sid} already ended at "
                               f"record {session.end.seq}", **where)
        home = f"{SESSIONS_DIR}/{sid}/" if sid else f"{RECOVERED_DIR}/"
        for entry in rec.files:
            path = entry.path
            # "\n": safe_rel's "$" also matches before a final newline (spool.SAFE_NAME)
            if not safe_rel(path) or "\n" in path or not path.startswith(home) \
                    or path.count("/") != 2 - (sid is None):
                report.add("misplaced_file", f"{path} is not a plain path inside {home}",
                           **where)
                continue
            if path in chain.covered:
                report.add("covered_twice", f"{path} is also covered by record "
                           f"{chain.covered[path][1]}", **where)
                continue
            chain.covered[path] = (entry, rec.seq, sid)
            if sid and chain.sessions[sid].end is None:
                chain.sessions[sid].files.append(entry)

    def _pruned(self, rec: Record, signed: bool, where: dict) -> None:
        """A pruned GAP excuses a listed file only if it is signed, the file is a sealed file
        of a session that had ended, and the item names the same SHA-256 and size and the
        object (key, version, checksum) that holds the copy."""
        report, chain = self.report, self.chain
        items = rec.data.get("files_pruned")
        if not signed or not isinstance(items, list):
            report.add("bad_prune", "a pruned GAP that is not signed by the device or lists "
                       "no files", **where)
            return
        excused = 0
        for item in items:
            problem = self._prune_problem(item, rec.seq)
            if problem:
                report.add("bad_prune", problem, **where)
                continue
            chain.pruned[item["path"]] = dict(item, gap=rec.seq)
            excused += 1
        if excused:
            report.note("pruned", f"{excused} files freed on the unit after their upload was "
                        f"confirmed ({_str(rec.data, 'target', 'cloud')}); their copies are "
                        "checked only with --bucket", record=rec.seq)

    def _prune_problem(self, item: Any, gap_seq: int) -> str | None:
        if not isinstance(item, dict):
            return "an item of files_pruned is not an object"
        path = item.get("path")
        if not isinstance(path, str):
            return "an item of files_pruned has no path"
        for name in ("sha256", "key", "version_id", "checksum"):
            if not isinstance(item.get(name), str) or not item.get(name):
                return f"{path}: no {name} of its copy in the bucket"
        if _int(item, "size") is None:
            return f"{path}: no size"
        sealed = self.chain.covered.get(path)
        if sealed is None:
            return f"{path} was never sealed before the pruning"
        entry, _seq, sid = sealed
        session = self.chain.sessions.get(sid) if sid else None
        if session is None or session.end is None or session.end.seq > gap_seq:
            return f"{path}: its session had not ended when it was pruned"
        if entry.sha256 != item["sha256"] or entry.size != item["size"]:
            return f"{path}: the pruned SHA-256/size is not the sealed one"
        return None
