"""What ``dualrec verify`` found: findings (each makes the verdict fail) and notes."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

FINDING_KINDS = {
    "changed_file": "a file's SHA-256 differs from the record that sealed it",
    "truncated_file": "a file is shorter than its record says",
    "size_mismatch": "a file is longer than its record says",
    "missing_file": "a file a record covers is not there",
    "extra_file": "a file no record covers",
    "unsealed_file": "a .part file: written but never sealed (run `dualrec recover`)",
    "unknown_session": "a session directory the chain never opened",
    "malformed_record": "a ledger line that is not a well-formed record",
    "torn_tail": "the ledger ends in a partial record (run `dualrec recover`)",
    "broken_link": "a record's prev is not the hash of the record before it",
    "sequence_gap": "records are missing and no signed GAP record explains it",
    "reordered_record": "a record's sequence number is not the next one",
    "bad_signature": "a record's signature does not verify",
    "foreign_key": "a record is signed by a key that is not this device's",
    "foreign_device": "a record names another device",
    "time_went_backwards": "CLOCK_MONOTONIC decreased within one boot",
    "covered_twice": "two records claim the same file",
    "misplaced_file": "a record covers a file outside its session's directory",
    "record_outside_session": "a session record with no SESSION_START before it",
    "session_not_closed": "a session left open across a restart",
    "manifest_mismatch": "a SESSION_END manifest differs from what the session's records sealed",
    "misnamed_ledger_file": "a ledger file's name is not the sequence number of its first record",
    "device_info_mismatch": "device/device.json differs from the trusted key or the chain",
    "untrusted_certificate": "the device certificate does not tie the chain's key to the fleet CA",
    "rollback": "a published checkpoint is beyond the end of the chain (history cut off)",
    "rewritten": "a published checkpoint's record differs from the chain's (history rewritten)",
}


@dataclass(frozen=True)
class Finding:
    kind: str
    message: str
    file: str | None = None      # path relative to the spool root
    record: int | None = None    # sequence number
    line: int | None = None      # line in a ledger file

    def __post_init__(self) -> None:
        if self.kind not in FINDING_KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")

    def text(self) -> str:
        where = []
        if self.file:
            where.append(self.file + (f":{self.line}" if self.line else ""))
        if self.record is not None:
            where.append(f"record {self.record}")
        return f"[{self.kind}] {' '.join(where)}: {self.message}"


@dataclass(frozen=True)
class Note:
    """Something an auditor should see that is not a fault: an explained gap, a recovery."""

    kind: str
    message: str
    session: str | None = None
    record: int | None = None


@dataclass
class VerifyReport:
    path: str
    scope: str                       # "spool" or "session"
    device_id: str = ""
    records: int = 0
    first_seq: int = 0
    head_seq: int = 0
    head_hash: str = ""
    sessions: list[str] = field(default_factory=list)
    files_checked: int = 0
    bytes_checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, kind: str, message: str, *, file: str | None = None,
            record: int | None = None, line: int | None = None) -> None:
        self.findings.append(Finding(kind, message, file, record, line))

    def note(self, kind: str, message: str, *, session: str | None = None,
             record: int | None = None) -> None:
        self.notes.append(Note(kind, message, session, record))

    def to_json(self) -> str:
        out = asdict(self)
        out["verdict"] = "intact" if self.ok else "findings"
        return json.dumps(out, indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        lines = [f"dualrec verify: {self.path} ({self.scope} of device {self.device_id})",
                 f"  records   {self.first_seq}..{self.head_seq} ({self.records} read)",
                 f"  sessions  {len(self.sessions)}",
                 f"  files     {self.files_checked} checked, {self.bytes_checked:,} bytes",
                 f"  head      seq {self.head_seq} sha256 {self.head_hash}"]
        if self.notes:
            lines.append(f"  notes ({len(self.notes)}):")
            lines += [f"    - {n.kind}: {n.message}" for n in self.notes]
        if self.findings:
            lines.append(f"  findings ({len(self.findings)}):")
            lines += [f"    - {f.text()}" for f in self.findings]
        lines.append("verdict: INTACT" if self.ok else
                     f"verdict: NOT INTACT ({len(self.findings)} findings)")
        return "\n".join(lines)
