"""``dualrec verify``: check a spool or one session against its chain, offline.

Nothing here trusts the unit: the only anchor is the genesis public key (``device/device.json``
or ``--trusted-key``), checked against the chain's first KEY record, and any published
checkpoints (witnesses) given with ``--checkpoint``.

``verify_path`` is total: for any input it returns a report or, only when nothing at all can be
verified (no such path, not a spool, no record), raises :class:`NotEvidenceError`. Every other
problem is a finding; nothing is followed through a symlink, no FIFO or device is opened,
lines are read with a bounded length, and records' data are type-checked before use.

Levels of trust (docs/evidence-format.md §9): *self-consistent* (the chain and the files agree
with the key in device/device.json), *anchored* (the key is the trusted key, or certified by
the fleet CA), *witnessed* (published checkpoints and, with ``--bucket``, the cloud copies of
pruned files agree).
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from firmware.evidence import durable, records
from firmware.evidence.certs import CertificateError, check_spool_certificate
from firmware.errors import KeyFileError, NotEvidenceError
from firmware.evidence.keys import PublicKey
from firmware.evidence.ledger_files import first_record, ledger_files
from firmware.evidence.records import MalformedRecord, Record, parse_line
from firmware.evidence.spool import DEVICE_INFO, SESSION_ID, SESSIONS_DIR, Spool, device_info_text
from firmware.evidence.verify.chain import Chain, ChainWalk
from firmware.evidence.verify.report import VerifyReport
from firmware.evidence.verify.tree import check_files, check_tree

MAX_WITNESS_FILE = 64 * 1024 * 1024


@dataclass(frozen=True)
class EmptyWitnessFile:
    """What a checkpoint file holding no checkpoint at all stands for among the witnesses: an
    auditor who gives a witness file expects it to be checked, so it is a ``bad_witness``
    finding, never silently "no witnesses"."""

    path: str


def resolve(path: Path) -> tuple[Spool, str | None]:
    """The spool a path belongs to, and the session id when the path is one session."""
    path = Path(path)
    if durable.lkind(path) == "missing":
        raise NotEvidenceError(f"{path}: no such file or directory")
    if path.parent.name == SESSIONS_DIR and SESSION_ID.fullmatch(path.name):
        return Spool.open_existing(path.parent.parent), path.name
    return Spool.open_existing(path), None


def _genesis(spool: Spool) -> Record | None:
    for path in ledger_files(spool.ledger_dir):
        if durable.lkind(path) == "regular":
            try:
                return first_record(path)
            except OSError:
                return None
    return None


def _anchor(spool: Spool, trusted_key: PublicKey | None, report: VerifyReport) -> PublicKey:
    """The key the chain must start from: --trusted-key, else device/device.json. A damaged
    device.json is a finding; the genesis record then stands in, so the rest is still checked."""
    try:
        info = spool.read_device_info()
        report.device_id = info.device_id
        stored = PublicKey.from_b64(info.public_key)
        text = durable.read_regular(spool.root / DEVICE_INFO, 1 << 16)
        if text != device_info_text(info).encode("utf-8"):
            report.add("device_info_mismatch", "not in the form the unit writes",
                       file=DEVICE_INFO)
    except (NotEvidenceError, KeyFileError, OSError, ValueError) as exc:
        report.add("device_info_mismatch", f"unreadable: {exc}", file=DEVICE_INFO)
        genesis = _genesis(spool)
        if trusted_key is not None:
            report.device_id = genesis.body["device"] if genesis else ""
            return trusted_key
        if genesis is None or genesis.type != records.KEY:
            raise NotEvidenceError(f"{spool.root}: no usable device identity and no genesis "
                                   "KEY record") from None
        report.device_id = genesis.body["device"]
        try:
            stored = PublicKey.from_b64(str(genesis.data.get("public_key", "")))
        except KeyFileError:
            raise NotEvidenceError(f"{spool.root}: no usable device identity and the "
                                   "genesis record holds no key") from None
    if trusted_key is not None and stored != trusted_key:
        report.add("device_info_mismatch", "the public key in device/device.json is not the "
                   "trusted key given", file=DEVICE_INFO)
    return trusted_key or stored


def _check_sessions(chain: Chain, only: str | None, report: VerifyReport) -> None:
    for sid, s in sorted(chain.sessions.items()):
        if only and sid != only:
            continue
        report.sessions.append(sid)
        if s.start is None:
            report.add("record_outside_session", f"session {sid} has no SESSION_START",
                       record=s.orphan)
        if s.end is None:
            if only or s.boots_after_start:
                report.add("session_not_closed", f"session {sid} has no SESSION_END"
                           + ("" if s.boots_after_start else
                              ": still recording, or its end was cut off"), record=s.start)
            else:
                report.note("open_session", f"{sid} is open: recording now, or its end was "
                            "cut off (verify the session itself, or a witness, to tell)",
                            session=sid)
            continue
        manifest = s.end.data.get("manifest")
        manifest = manifest if isinstance(manifest, dict) else {}
        sealed = [f.as_record() for f in s.files]
        listed = manifest.get("files")
        counts = manifest.get("records_by_kind")
        if listed != sealed or (counts is not None and counts != dict(sorted(s.counts.items()))):
            n = len(listed) if isinstance(listed, list) else "no"
            report.add("manifest_mismatch", f"session {sid}: the manifest lists {n} files "
                       f"and counts {counts}; its records sealed {len(sealed)} files, "
                       f"{dict(sorted(s.counts.items()))}", record=s.end.seq)
        if s.end.data.get("closed_by") == "recovery":
            report.note("recovered_session", f"{sid} was closed by recovery after a power "
                        "cut", session=sid, record=s.end.seq)


def _parse_witness(witness: Any) -> Record:
    line = witness.get("line") if isinstance(witness, dict) else witness
    if not isinstance(line, str):
        raise MalformedRecord("a witness is a ledger line or {\"line\": …}")
    return parse_line(line.encode("utf-8"))


def check_checkpoint(witness: Any, chain: Chain, report: VerifyReport) -> None:
    """Compare a published checkpoint (a witness kept by the fleet) with the chain."""
    if isinstance(witness, EmptyWitnessFile):
        report.add("bad_witness", f"the checkpoint file {witness.path} holds no checkpoint: "
                   "nothing could be compared")
        return
    try:
        cp = _parse_witness(witness)
    except MalformedRecord as exc:
        report.add("bad_witness", f"not a record: {exc}")
        return
    if cp.body["device"] != report.device_id:
        report.add("bad_witness", f"a checkpoint of device {cp.body['device']}", record=cp.seq)
        return
    if not any(k.verify(cp.signature, records.SIGNING_CONTEXT + cp.body_bytes)
               for k in chain.keys):
        report.add("bad_witness", "its signature is not the device's", record=cp.seq)
        return
    ours = chain.hashes.get(cp.seq)
    if ours is None:
        if cp.seq > report.head_seq:
            report.add("rollback", f"the chain ends at {report.head_seq}, but record {cp.seq} "
                       "was published", record=cp.seq)
        else:
            report.add("rewritten", "the published record is missing from the chain",
                       record=cp.seq)
    elif ours != cp.hash:
        report.add("rewritten", "the chain's record differs from the published one",
                   record=cp.seq)


def load_checkpoint_file(path: str | os.PathLike) -> list[Any]:
    """Witnesses from a file: JSON objects (one, a list, or one per line) or raw ledger lines.
    Whatever they hold is checked later (a bad one is a ``bad_witness`` finding); a file that
    holds none (empty, blank, ``[]``) is one :class:`EmptyWitnessFile`, also ``bad_witness``."""
    try:
        text = durable.read_regular(path, MAX_WITNESS_FILE).decode("utf-8", "replace").strip()
    except (OSError, ValueError) as exc:
        raise NotEvidenceError(f"checkpoint file {path}: {exc}") from None
    return _witnesses_in(text) or [EmptyWitnessFile(str(path))]


def _witnesses_in(text: str) -> list[Any]:
    try:
        value = json.loads(text)
        return value if isinstance(value, list) else [value]
    except (json.JSONDecodeError, RecursionError):
        out: list[Any] = []
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line) if line.startswith("{") else line)
            except (json.JSONDecodeError, RecursionError):
                out.append(line)
        return out


def _check_certificate(spool: Spool, chain: Chain, fleet_ca: list, synced_wall: int | None,
                       report: VerifyReport) -> None:
    """The device certificate in device/device.json must tie one of the chain's keys to the
    fleet CA; it must have been valid at the newest record made with a synchronised clock."""
    try:
        pem = spool.read_device_info().certificate
    except NotEvidenceError:
        pem = None  # already a device_info_mismatch finding
    at = dt.datetime.fromtimestamp(synced_wall / 1e9, dt.timezone.utc) if synced_wall else None
    try:
        check_spool_certificate(pem, fleet_ca, device_id=report.device_id,
                                evidence_keys=chain.keys, at=at)
    except CertificateError as exc:
        report.add("untrusted_certificate", f"{exc.reason}: {exc}", file=DEVICE_INFO)


def _witness_seqs(checkpoints: list[Any]) -> set[int]:
    seqs = set()
    for w in checkpoints:
        try:
            seqs.add(_parse_witness(w).seq)
        except MalformedRecord:
            pass
    return seqs


def verify_path(path: str | os.PathLike, *, trusted_key: PublicKey | None = None,
                checkpoints: list[Any] = (), fleet_ca: list | None = None,
                bucket_check: Callable[[Chain, VerifyReport], None] | None = None
                ) -> VerifyReport:
    """Verify a spool or one session directory. Raises NotEvidenceError for unusable input.
    ``bucket_check`` (``verify --bucket``) checks the cloud copies of pruned files."""
    spool, only = resolve(Path(path))
    report = VerifyReport(str(path), "session" if only else "spool")
    anchor = _anchor(spool, trusted_key, report)
    walk = ChainWalk(spool, anchor, report, _witness_seqs(list(checkpoints)))
    chain = walk.run()
    if report.records == 0:
        raise NotEvidenceError(f"{spool.root}: the ledger holds no records")
    if only and only not in chain.sessions:
        report.add("unknown_session", "no SESSION_START for this directory",
                   file=f"{SESSIONS_DIR}/{only}")
    _check_sessions(chain, only, report)
    check_files(spool, chain, only, report)
    check_tree(spool, chain, only, report)
    report.levels["chain"] = "self-consistent" if report.ok else "NOT self-consistent"
    if trusted_key is not None:
        report.levels["anchor"] = "the trusted key given"
    if fleet_ca is not None:
        _check_certificate(spool, chain, fleet_ca, walk.newest_synced_wall, report)
        report.levels["anchor"] = "device certificate checked against the fleet CA"
    for witness in checkpoints:
        check_checkpoint(witness, chain, report)
    if checkpoints:
        given = sum(not isinstance(w, EmptyWitnessFile) for w in checkpoints)
        report.levels["witnessed"] = f"{given} published checkpoints compared"
    if bucket_check is not None:
        bucket_check(chain, report)
    elif chain.pruned:
        report.levels["pruned"] = (f"{len(chain.pruned)} pruned files not checked against "
                                   "the bucket (use --bucket)")
    return report
