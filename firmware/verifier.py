"""``dualrec verify``: check a spool or one session against its chain, offline.

Nothing here trusts the unit: the only anchor is the genesis public key (``device/device.json``
or ``--trusted-key``), checked against the chain's first KEY record, and any published
checkpoints (witnesses) given with ``--checkpoint``.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from firmware import records
from firmware.certs import CertificateError, check_spool_certificate
from firmware.errors import KeyFileError, NotEvidenceError
from firmware.keys import PublicKey
from firmware.ledger_files import LEDGER_DIR, LEDGER_NAME, ledger_files, read_lines
from firmware.records import FileEntry, MalformedRecord, Record, parse_line
from firmware.spool import (DEVICE_DIR, DEVICE_INFO, device_info_text, PART_SUFFIX, RECOVERED_DIR, SESSIONS_DIR, STATE_DIR,
                            Spool, hash_file)
from firmware.verify_report import VerifyReport

TOP_LEVEL = {DEVICE_DIR, LEDGER_DIR, SESSIONS_DIR, RECOVERED_DIR, STATE_DIR, "lost+found"}


@dataclass
class _Session:
    start: int | None = None
    end: Record | None = None
    files: list[FileEntry] = field(default_factory=list)
    boots_after_start: int = 0
    orphans: list[int] = field(default_factory=list)  # records seen before its SESSION_START


@dataclass
class _Chain:
    """What a walk over the ledger collects."""

    by_seq: dict[int, Record] = field(default_factory=dict)
    covered: dict[str, tuple[FileEntry, int]] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)
    gaps: list[tuple[int, int, int]] = field(default_factory=list)  # (first, last, next seq)
    pruned: list[Record] = field(default_factory=list)
    keys: list[PublicKey] = field(default_factory=list)


def resolve(path: Path) -> tuple[Spool, str | None]:
    """The spool a path belongs to, and the session id when the path is one session."""
    path = Path(path)
    if not path.exists():
        raise NotEvidenceError(f"{path}: no such file or directory")
    if path.is_dir() and path.parent.name == SESSIONS_DIR:
        return Spool.open_existing(path.parent.parent), path.name
    return Spool.open_existing(path), None


def _genesis(spool: Spool) -> Record | None:
    files = ledger_files(spool.ledger_dir)
    first = next(iter(read_lines(files[0])), None) if files else None
    return first.record if first else None


def _anchor(spool: Spool, trusted_key: PublicKey | None, report: VerifyReport) -> PublicKey:
    """The key the chain must start from: --trusted-key, else device/device.json. A damaged
    device.json is a finding; the genesis record then stands in, so the rest is still checked."""
    try:
        info = spool.read_device_info()
        report.device_id = info.device_id
        stored = PublicKey.from_b64(info.public_key)
        if (spool.root / DEVICE_INFO).read_text(encoding="utf-8") != device_info_text(info):
            report.add("device_info_mismatch", "not in the form the unit writes",
                       file=DEVICE_INFO)
    except (NotEvidenceError, KeyFileError) as exc:
        report.add("device_info_mismatch", f"unreadable: {exc}", file=DEVICE_INFO)
        genesis = _genesis(spool)
        if genesis is None or genesis.type != records.KEY:
            raise NotEvidenceError(f"{spool.root}: no usable device identity and no genesis "
                                   "KEY record") from None
        report.device_id = genesis.body["device"]
        stored = PublicKey.from_b64(genesis.data.get("public_key", ""))
    if trusted_key is not None and stored != trusted_key:
        report.add("device_info_mismatch", "the public key in device/device.json is not the "
                   "trusted key given", file=DEVICE_INFO)
    return trusted_key or stored


def _check_key_record(rec: Record, current: PublicKey, chain: _Chain, report: VerifyReport,
                      where: dict) -> PublicKey:
    try:
        new = PublicKey.from_b64(rec.data.get("public_key", ""))
    except KeyFileError as exc:
        report.add("malformed_record", f"KEY record: {exc}", **where)
        return current
    if rec.data.get("reason") == "genesis":
        if new != current:
            report.add("foreign_key", "the genesis KEY record introduces a key that is not "
                       "the device's", **where)
        return current
    proof = base64.b64decode(rec.data.get("proof", ""))
    message = (records.KEY_PROOF_CONTEXT + rec.prev.encode() + b"\n" + new.b64.encode())
    if not new.verify(proof, message):
        report.add("bad_signature", "KEY rotation: the new key's proof does not verify", **where)
        return current
    chain.keys.append(new)
    return new


def _walk(spool: Spool, anchor: PublicKey, report: VerifyReport) -> _Chain:
    chain = _Chain(keys=[anchor])
    current = anchor
    prev: Record | None = None
    files = ledger_files(spool.ledger_dir)
    for extra in sorted(spool.ledger_dir.iterdir()):
        if not LEDGER_NAME.match(extra.name):
            report.add("extra_file", "not a ledger file", file=f"{LEDGER_DIR}/{extra.name}")
    for index, path in enumerate(files):
        rel = f"{LEDGER_DIR}/{path.name}"
        first_in_file = True
        for ln in read_lines(path):
            where = {"file": rel, "line": ln.line_no}
            rec = ln.record
            if rec is None:
                last_line = index == len(files) - 1 and not ln.complete
                report.add("torn_tail" if last_line else "malformed_record", ln.error, **where)
                continue
            where["record"] = rec.seq
            if first_in_file and int(LEDGER_NAME.match(path.name).group(1)) != rec.seq:
                report.add("misnamed_ledger_file", f"first record is {rec.seq}", file=rel)
            first_in_file = False
            report.records += 1
            if rec.body["device"] != report.device_id:
                report.add("foreign_device", f"record names device {rec.body['device']}",
                           **where)
            expected = prev.seq + 1 if prev else 1
            if rec.seq == expected:
                if rec.prev != (prev.hash if prev else records.GENESIS_PREV):
                    report.add("broken_link", "prev is not the hash of the record before",
                               **where)
            elif rec.seq > expected:
                chain.gaps.append((expected, rec.seq - 1, rec.seq))
            else:
                report.add("reordered_record", f"expected record {expected}", **where)
            if rec.body["key"] != current.fingerprint:
                report.add("foreign_key", f"signed by key {rec.body['key'][:16]}…, expected "
                           f"{current.fingerprint[:16]}…", **where)
            elif not current.verify(rec.signature, records.SIGNING_CONTEXT + rec.body_bytes):
                report.add("bad_signature", "the signature does not verify", **where)
            if prev is not None and prev.body["boot_id"] == rec.body["boot_id"] \
                    and rec.body["mono_ns"] < prev.body["mono_ns"]:
                report.add("time_went_backwards", "CLOCK_MONOTONIC is earlier than the record "
                           "before in the same boot", **where)
            if rec.type == records.KEY:
                current = _check_key_record(rec, current, chain, report, where)
            _collect(rec, chain, report, where)
            if rec.seq not in chain.by_seq:
                chain.by_seq[rec.seq] = rec
            if prev is None or rec.seq > prev.seq:
                prev = rec
    if prev is not None:
        report.head_seq, report.head_hash = prev.seq, prev.hash
        report.first_seq = min(chain.by_seq)
    return chain


def _collect(rec: Record, chain: _Chain, report: VerifyReport, where: dict) -> None:
    sid = rec.session
    if rec.type == records.BOOT:
        for s in chain.sessions.values():
            if s.start is not None and s.end is None:
                s.boots_after_start += 1
    if rec.type == records.GAP:
        if rec.data.get("kind") == "pruned":
            chain.pruned.append(rec)
        else:
            report.note("gap", f"{rec.data.get('kind')}: {rec.data.get('start_ns')}.."
                        f"{rec.data.get('end_ns')} ns", session=sid, record=rec.seq)
    if sid is not None:
        session = chain.sessions.setdefault(sid, _Session())
        if rec.type == records.SESSION_START:
            session.start = rec.seq
        elif session.start is None:
            session.orphans.append(rec.seq)
        if rec.type == records.SESSION_END:
            session.end = rec
    for entry in rec.files:
        home = f"{SESSIONS_DIR}/{sid}/" if sid else f"{RECOVERED_DIR}/"
        if not entry.path.startswith(home) or ".." in entry.path.split("/"):
            report.add("misplaced_file", f"{entry.path} is outside {home}", **where)
        if entry.path in chain.covered:
            report.add("covered_twice", f"{entry.path} is also covered by record "
                       f"{chain.covered[entry.path][1]}", **where)
            continue
        chain.covered[entry.path] = (entry, rec.seq)
        if sid:
            chain.sessions[sid].files.append(entry)


def _explain_gaps(chain: _Chain, report: VerifyReport) -> set[str]:
    """Sequence gaps a signed ``pruned`` GAP explains; returns the files it says were pruned."""
    pruned_files: set[str] = set()
    for rec in chain.pruned:
        files = rec.data.get("files_pruned", [])
        pruned_files.update(files)
        if files:
            report.note("pruned", f"{len(files)} files freed on the unit after their upload "
                        f"was confirmed ({rec.data.get('target', 'cloud')})", record=rec.seq)
    for first, last, nxt in chain.gaps:
        why = next((r for r in chain.pruned if r.data.get("from_seq", 0) <= first
                    and r.data.get("to_seq", -1) >= last), None)
        if why is None:
            report.add("sequence_gap", f"records {first}..{last} are missing", record=nxt)
            continue
        if why.data.get("to_seq") == last and chain.by_seq[nxt].prev != why.data.get("last_hash"):
            report.add("broken_link", f"record {nxt} does not follow the pruned records",
                       record=nxt)
        report.note("pruned", f"records {first}..{last} were pruned after upload",
                    record=why.seq)
    return pruned_files


def _check_sessions(chain: _Chain, only: str | None, pruned: set[str],
                    report: VerifyReport) -> None:
    for sid, s in sorted(chain.sessions.items()):
        if only and sid != only:
            continue
        report.sessions.append(sid)
        if s.start is None:
            if not chain.pruned:  # a pruned start explains it; else the start was cut out
                report.add("record_outside_session", f"session {sid} has no SESSION_START",
                           record=s.orphans[0] if s.orphans else None)
        elif s.end is None:
            if s.boots_after_start:
                report.add("session_not_closed", f"session {sid} was never closed",
                           record=s.start)
            else:
                report.note("open_session", f"{sid} is open (recording, or awaiting recovery)",
                            session=sid)
            continue
        if s.end is None:
            continue
        sealed = [f.as_record() for f in s.files]
        manifest = [f for f in s.end.data.get("manifest", {}).get("files", [])
                    if f.get("path") not in pruned or f in sealed]
        if manifest != sealed:
            report.add("manifest_mismatch", f"session {sid}: the manifest lists "
                       f"{len(manifest)} files, its records sealed {len(sealed)}",
                       record=s.end.seq)
        if s.end.data.get("closed_by") == "recovery":
            report.note("recovered_session", f"{sid} was closed by recovery after a power "
                        "cut", session=sid, record=s.end.seq)


def _check_files(spool: Spool, chain: _Chain, only: str | None, pruned: set[str],
                 report: VerifyReport) -> None:
    wanted = [(e, seq) for e, seq in chain.covered.values()
              if only is None or e.path.startswith(f"{SESSIONS_DIR}/{only}/")]

    def check(item: tuple[FileEntry, int]) -> tuple[FileEntry, int, str | None, int | None]:
        entry, seq = item
        try:
            digest, size = hash_file(spool.root / entry.path)
        except FileNotFoundError:
            return entry, seq, None, None
        return entry, seq, digest, size

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for entry, seq, digest, size in pool.map(check, wanted):
            if digest is None:
                if entry.path in pruned:
                    continue
                report.add("missing_file", "sealed here, now gone", file=entry.path,
                           record=seq)
                continue
            report.files_checked += 1
            report.bytes_checked += size
            if size < entry.size:
                report.add("truncated_file", f"{size} bytes, sealed with {entry.size}",
                           file=entry.path, record=seq)
            elif size > entry.size:
                report.add("size_mismatch", f"{size} bytes, sealed with {entry.size}",
                           file=entry.path, record=seq)
            elif digest != entry.sha256:
                report.add("changed_file", "SHA-256 differs from the sealed one",
                           file=entry.path, record=seq)
    tops = [spool.session_dir(only)] if only else [spool.sessions_dir, spool.root / RECOVERED_DIR]
    if not only:
        for entry in sorted(spool.root.iterdir()):
            if entry.name not in TOP_LEVEL:
                report.add("extra_file", "not part of a spool", file=entry.name)
        if spool.sessions_dir.is_dir():
            for d in sorted(spool.sessions_dir.iterdir()):
                if d.name not in chain.sessions:
                    report.add("unknown_session", "no SESSION_START for this directory",
                               file=f"{SESSIONS_DIR}/{d.name}")
    for top in tops:
        if not top.is_dir():
            continue
        for dirpath, dirs, names in os.walk(top):
            dirs.sort()
            for name in sorted(names):
                rel = (Path(dirpath) / name).relative_to(spool.root).as_posix()
                if rel in chain.covered:
                    continue
                kind = "unsealed_file" if name.endswith(PART_SUFFIX) else "extra_file"
                report.add(kind, "no record covers this file", file=rel)


def check_checkpoint(witness: dict | str, chain: _Chain, report: VerifyReport) -> None:
    """Compare a published checkpoint (a witness kept by the fleet) with the chain."""
    line = witness["line"] if isinstance(witness, dict) else witness
    try:
        cp = parse_line(line.encode("utf-8"))
    except MalformedRecord as exc:
        raise NotEvidenceError(f"checkpoint: not a record ({exc})") from None
    if cp.body["device"] != report.device_id:
        raise NotEvidenceError(f"checkpoint is of device {cp.body['device']}, not "
                               f"{report.device_id}")
    if not any(k.verify(cp.signature, records.SIGNING_CONTEXT + cp.body_bytes)
               for k in chain.keys):
        raise NotEvidenceError(f"checkpoint {cp.seq}: its signature is not the device's")
    ours = chain.by_seq.get(cp.seq)
    if ours is None and cp.seq > report.head_seq:
        report.add("rollback", f"the chain ends at {report.head_seq}, but record {cp.seq} "
                   "was published", record=cp.seq)
    elif ours is not None and ours.hash != cp.hash:
        report.add("rewritten", "the chain's record differs from the published one",
                   record=cp.seq)


def load_checkpoint_file(path: str | os.PathLike) -> list[dict | str]:
    """Witnesses from a file: JSON objects (one, a list, or one per line) or raw ledger lines."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise NotEvidenceError(f"checkpoint file {path}: {exc.strerror}") from None
    try:
        value = json.loads(text)
        return value if isinstance(value, list) else [value]
    except json.JSONDecodeError:
        out: list[dict | str] = []
        for line in text.splitlines():
            line = line.strip()
            if line:
                out.append(json.loads(line) if line.startswith('{"line"') else line)
        return out


def _check_certificate(spool: Spool, chain: _Chain, fleet_ca: list, report: VerifyReport) -> None:
    """The device certificate in device/device.json must tie one of the chain's keys to the
    fleet CA; it must have been valid at the newest record made with a synchronised clock."""
    try:
        pem = spool.read_device_info().certificate
    except NotEvidenceError:
        pem = None  # already a device_info_mismatch finding
    synced = [r.body["wall_ns"] for r in chain.by_seq.values() if r.body["sync"].get("synced")]
    at = dt.datetime.fromtimestamp(max(synced) / 1e9, dt.timezone.utc) if synced else None
    try:
        check_spool_certificate(pem, fleet_ca, device_id=report.device_id,
                                evidence_keys=chain.keys, at=at)
    except CertificateError as exc:
        report.add("untrusted_certificate", f"{exc.reason}: {exc}", file=DEVICE_INFO)


def verify_path(path: str | os.PathLike, *, trusted_key: PublicKey | None = None,
                checkpoints: list[dict | str] = (),
                fleet_ca: list | None = None) -> VerifyReport:
    """Verify a spool or one session directory. Raises NotEvidenceError for unusable input."""
    spool, only = resolve(Path(path))
    report = VerifyReport(str(path), "session" if only else "spool")
    anchor = _anchor(spool, trusted_key, report)
    chain = _walk(spool, anchor, report)
    if report.records == 0:
        raise NotEvidenceError(f"{spool.root}: the ledger holds no records")
    if only and only not in chain.sessions:
        report.add("unknown_session", "no SESSION_START for this directory",
                   file=f"{SESSIONS_DIR}/{only}")
    pruned = _explain_gaps(chain, report)
    _check_sessions(chain, only, pruned, report)
    _check_files(spool, chain, only, pruned, report)
    if fleet_ca is not None:
        _check_certificate(spool, chain, fleet_ca, report)
    for witness in checkpoints:
        check_checkpoint(witness, chain, report)
    return report
