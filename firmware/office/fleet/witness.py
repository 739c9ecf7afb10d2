"""Witnesses: published checkpoints kept by the fleet, compared with a unit's evidence.

A unit publishes every CHECKPOINT record (``checkpoints`` stream, latest one retained). Anyone
who keeps them can later show that the unit's chain was cut off (``rollback``) or rewritten
(``rewritten``): :func:`check_spool` runs the verifier's checkpoint check over a spool.
A witness file is the payload as published (``{"line", "seq", "hash", "device", ...}``), which
``dualrec verify --checkpoint FILE`` also reads; :func:`save_witness` stores them as
``DIR/<device>/<seq>.json``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.evidence import durable
from firmware.errors import NotEvidenceError
from firmware.protocol.mqtt.topics import DEVICE_ID
from firmware.evidence.records import MalformedRecord, parse_line
from firmware.evidence.verify import load_checkpoint_file, verify_path
from firmware.evidence.verify.report import VerifyReport


def witness_record(witness: dict | str):
    """The signed record inside a witness (a payload dict or a raw ledger line)."""
    line = witness.get("line") if isinstance(witness, dict) else witness
    if not isinstance(line, str):
        raise MalformedRecord("the witness has no \"line\"")
    return parse_line(line.encode("utf-8"))


def save_witness(directory: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Store a published checkpoint as ``DIR/<device>/<seq 12 digits>.json``."""
    record = witness_record(payload)
    device = record.body["device"]
    if not DEVICE_ID.fullmatch(device):
        raise MalformedRecord(f"device id {device!r} is not a unit's id")
    path = Path(directory) / device / f"{record.seq:012d}.json"
    durable.ensure_dir(path.parent)
    witness = {"line": payload["line"], "seq": record.seq, "hash": record.hash,
               "device": device}
    durable.write_atomic(path, (json.dumps(witness, ensure_ascii=False) + "\n").encode())
    return path


def load_witnesses(directory: str | os.PathLike, device_id: str) -> list[dict | str]:
    """Every witness of ``device_id`` in ``DIR/<device>/`` and in ``DIR`` itself (``*.json``,
    ``*.jsonl``: one witness, a list, or one per line); others' witnesses are left out."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NotEvidenceError(f"{directory}: no such witness directory")
    found: list[dict | str] = []
    for folder in (directory / device_id, directory):
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir()
                           if p.is_file() and p.suffix in (".json", ".jsonl")):
            for witness in load_checkpoint_file(path):
                try:
                    if witness_record(witness).body["device"] == device_id:
                        found.append(witness)
                except MalformedRecord:
                    continue
    return found


@dataclass
class WitnessCheck:
    """The verifier's report with the witnesses in it, and witnesses that could not be used
    (not signed by the spool's keys: a replaced identity, or a forged witness)."""

    report: VerifyReport
    witnesses: int
    unusable: list[tuple[int, str]] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)   # the records the witnesses name

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.unusable

    def to_text(self) -> str:
        seqs = sorted(set(self.seqs))
        span = f" (records {seqs[0]}..{seqs[-1]})" if seqs else ""
        lines = [f"witnesses: {self.witnesses} published checkpoints{span}", self.report.to_text()]
        lines += [f"UNUSABLE witness {seq}: {why}" for seq, why in self.unusable]
        lines.append("witness: CONSISTENT" if self.ok else "witness: NOT CONSISTENT")
        return "\n".join(lines)

    def to_json(self) -> str:
        out = json.loads(self.report.to_json())
        out["witnesses"] = self.witnesses
        out["unusable_witnesses"] = [{"seq": s, "reason": r} for s, r in self.unusable]
        out["consistent"] = self.ok
        return json.dumps(out, indent=2, ensure_ascii=False)


def check_spool(spool: str | os.PathLike, witnesses: list[dict | str]) -> WitnessCheck:
    """Verify ``spool`` with ``witnesses`` as checkpoints. NotEvidenceError: unusable spool."""
    usable, unusable, seqs = [], [], []
    for w in witnesses:
        try:
            seqs.append(witness_record(w).seq)
            usable.append(w)
        except MalformedRecord as exc:
            unusable.append((-1, f"not a record ({exc})"))
    try:
        report = verify_path(spool, checkpoints=usable)
    except NotEvidenceError:
        report = verify_path(spool)  # raises when the spool itself is unusable
        kept = []
        for w in usable:
            try:
                verify_path(spool, checkpoints=[w])
                kept.append(w)
            except NotEvidenceError as exc:
                unusable.append((witness_record(w).seq, str(exc)))
        report = verify_path(spool, checkpoints=kept)
    return WitnessCheck(report, len(witnesses), unusable, seqs)
