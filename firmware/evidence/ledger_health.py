"""What the unit finds in its own ledger at start: where the chain ends, what a power cut
left, and what is damage.

A power cut can leave exactly one thing in the ledger: an incomplete last line (no final LF)
in the newest ledger file — the *torn tail*, which recovery sets aside and explains. Anything
else is damage that a power cut cannot cause: a complete line that is not a well-formed
record, a broken hash link, a bad signature, a record signed by a key that is not the current
one, a missing ledger file (a jump in sequence numbers between files), a ledger entry that is
not a regular file. Damage is never repaired: its bytes stay, the chain continues from the
last good record only after a signed DAMAGE record names what was found (file, offset,
length, SHA-256), and ``dualrec verify`` reports it forever.

Reading costs: every line of the newest ledger file (signatures included), the first and the
last record of every older file (their joints).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from firmware.evidence import durable, records
from firmware.evidence.durable import NotRegularFileError
from firmware.evidence.keys import PublicKey
from firmware.evidence.ledger_files import (LEDGER_DIR, LEDGER_NAME, first_record, last_complete_record,
                                   ledger_files, read_lines)
from firmware.evidence.records import Record

MAX_TORN = 4 * 1024 * 1024   # a torn tail is part of the one record being written: at most this


@dataclass(frozen=True)
class Damage:
    """One piece of damage: ``kind`` (a verify finding kind), where, and the damaged bytes'
    SHA-256 when there are bytes."""

    kind: str
    file: str                 # relative to the spool root
    detail: str
    offset: int = 0
    length: int = 0
    sha256: str = ""

    def as_record(self) -> dict:
        return {"kind": self.kind, "file": self.file, "offset": self.offset,
                "length": self.length, "sha256": self.sha256, "detail": self.detail}

    @property
    def identity(self) -> str:
        return f"{self.kind}:{self.file}:{self.offset}:{self.length}:{self.sha256}"


@dataclass(frozen=True)
class TornTail:
    """The incomplete last line of the newest ledger file: bytes [offset, offset+length)."""

    path: Path
    offset: int
    length: int


@dataclass
class LedgerHealth:
    files: list[Path] = field(default_factory=list)   # regular ledger files, in order
    head: Record | None = None        # the last good record: the chain continues from it
    torn: TornTail | None = None
    damage: list[Damage] = field(default_factory=list)



def _bytes_damage(kind: str, rel: str, raw: bytes, offset: int, detail: str) -> Damage:
    return Damage(kind, rel, detail, offset, len(raw), hashlib.sha256(raw).hexdigest())


def inspect_ledger(ledger_dir: Path, current: PublicKey) -> LedgerHealth:
    """Read the ledger as described in the module docstring. ``current`` is the key the unit
    signs with now."""
    health = LedgerHealth()
    if durable.lkind(ledger_dir) != "directory":
        return health
    for path in ledger_files(ledger_dir):
        kind = durable.lkind(path)
        if kind != "regular":
            health.damage.append(Damage("not_regular_file", f"{LEDGER_DIR}/{path.name}",
                                        f"a {kind} where a ledger file should be"))
        else:
            health.files.append(path)
    if not health.files:
        return health
    *older, newest = health.files
    prev_last: Record | None = None
    for path in older:
        rel = f"{LEDGER_DIR}/{path.name}"
        try:
            first = first_record(path)
            last, _ = last_complete_record(path)
        except (OSError, ValueError) as exc:
            health.damage.append(Damage("not_regular_file", rel, str(exc)))
            continue
        _check_joint(health, rel, path, first, prev_last)
        prev_last = last or prev_last
    _scan_newest(health, newest, prev_last, current)
    return health


def _check_joint(health: LedgerHealth, rel: str, path: Path, first: Record | None,
                 prev_last: Record | None) -> None:
    """A file's first record against its name and the record before it (the previous file's
    last). A jump means a ledger file (or part of one) is gone."""
    named = int(LEDGER_NAME.match(path.name).group(1))
    if first is None:
        if os.path.getsize(path) > 0:
            health.damage.append(Damage("malformed_record", rel, "the first line is not a "
                                        "well-formed record"))
        return
    if first.seq != named:
        health.damage.append(Damage("misnamed_ledger_file", rel,
                                    f"named {named}, first record is {first.seq}"))
    if prev_last is None:
        return
    if first.seq > prev_last.seq + 1:
        health.damage.append(Damage("sequence_gap", rel, f"records {prev_last.seq + 1}.."
                                    f"{first.seq - 1} are missing (a ledger file is gone)"))
    elif first.seq == prev_last.seq + 1 and first.prev != prev_last.hash:
        health.damage.append(Damage("broken_link", rel, f"record {first.seq} does not follow "
                                    f"record {prev_last.seq}"))


def _scan_newest(health: LedgerHealth, path: Path, prev_last: Record | None,
                 current: PublicKey) -> None:
    rel = f"{LEDGER_DIR}/{path.name}"
    lines = list(read_lines(path))
    fingerprints = _expected_keys(lines, current)
    head = prev_last
    first = True
    for index, ln in enumerate(lines):
        last_line = index == len(lines) - 1
        if last_line and not ln.complete:
            if ln.size <= MAX_TORN:
                health.torn = TornTail(path, ln.offset, ln.size)
            else:  # far more than the one record being written when the power went
                health.damage.append(Damage("torn_tail", rel, f"an incomplete last line of "
                                            f"{ln.size} bytes: longer than any record",
                                            ln.offset, ln.size))
            break
        rec = ln.record
        if rec is None:
            health.damage.append(_bytes_damage("malformed_record", rel, ln.raw, ln.offset,
                                               f"line {ln.line_no}: {ln.error}"))
            continue
        if first:
            named = int(LEDGER_NAME.match(path.name).group(1))
            if rec.seq != named:
                health.damage.append(Damage("misnamed_ledger_file", rel,
                                            f"named {named}, first record is {rec.seq}"))
            first = False
        problem = None
        if head is not None and rec.seq != head.seq + 1:
            problem = ("sequence_gap" if rec.seq > head.seq + 1 else "reordered_record",
                       f"record {rec.seq} follows record {head.seq}")
        elif head is not None and rec.prev != head.hash:
            problem = ("broken_link", f"record {rec.seq} does not follow record {head.seq}")
        elif head is None and (rec.seq != 1 or rec.prev != records.GENESIS_PREV):
            problem = ("broken_link", f"record {rec.seq} is first but is not record 1")
        expected = fingerprints[index]
        if problem is None and expected is not None and rec.body["key"] != expected:
            problem = ("foreign_key", f"record {rec.seq} is signed by key "
                       f"{rec.body['key'][:16]}…, expected {expected[:16]}…")
        elif problem is None and rec.body["key"] == current.fingerprint and \
                not current.verify(rec.signature, records.SIGNING_CONTEXT + rec.body_bytes):
            problem = ("bad_signature", f"record {rec.seq}: the signature does not verify")
        if problem is not None:
            if rec.seq <= (head.seq if head else 0):
                # an older record again: not a continuation; keep the head we have
                health.damage.append(_bytes_damage(problem[0], rel, ln.raw, ln.offset,
                                                   f"line {ln.line_no}: {problem[1]}"))
                continue
            health.damage.append(_bytes_damage(problem[0], rel, ln.raw, ln.offset,
                                               f"line {ln.line_no}: {problem[1]}"))
            if problem[0] in ("bad_signature", "foreign_key"):
                continue  # never continue the chain from a record the unit did not sign
        head = rec
    health.head = head


def _expected_keys(lines: list, current: PublicKey) -> list[str | None]:
    """The fingerprint each line of the newest file must carry: the current key after the
    last rotation into it (or throughout), the rotation's previous key before it. None: not
    known here (older history, checked by ``dualrec verify``)."""
    expected: list[str | None] = [None] * len(lines)
    want: str | None = current.fingerprint
    for i in range(len(lines) - 1, -1, -1):
        rec = lines[i].record
        expected[i] = want
        if rec is not None and rec.type == records.KEY and rec.data.get("reason") == "rotation":
            try:
                new = PublicKey.from_b64(str(rec.data.get("public_key", "")))
            except ValueError:
                continue
            if new.fingerprint == want:
                prior = rec.data.get("previous_fingerprint")
                expected[i] = prior if isinstance(prior, str) else None
                want = expected[i]
    return expected


def damage_of_parts(spool_root: Path, parts: list[tuple[Path, str]]) -> list[Damage]:
    """``.part`` entries that are not regular files: never sealed, reported as damage."""
    out = []
    for path, kind in parts:
        if kind != "regular":
            out.append(Damage("not_regular_file", path.relative_to(spool_root).as_posix(),
                              f"a {kind} named like an unsealed file; left alone"))
    return out


__all__ = ["Damage", "LedgerHealth", "NotRegularFileError", "TornTail", "damage_of_parts",
           "inspect_ledger"]
