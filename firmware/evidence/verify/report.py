"""What ``dualrec verify`` found: findings (each makes the verdict fail) and notes.

Names and messages come from untrusted input (file names, record data): every control or
format character is escaped before it is printed, so a file name holding a newline cannot
forge a line of the report. At most :data:`MAX_DETAILED` findings are kept in detail; all are
counted by kind.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, field

MAX_DETAILED = 2000
MAX_NOTES = 2000

FINDING_KINDS = {
    "changed_file": "a file's SHA-256 differs from the record that sealed it",
    "truncated_file": "a file is shorter than its record says (its size is smaller)",
    "size_mismatch": "a file is longer than its record says (its size is larger)",
    "missing_file": "a file a record covers is not there",
    "extra_file": "an entry no record covers: a file in a session or in recovered/, or "
                  "anything at the top level, in ledger/ or in device/ that the format does "
                  "not name",
    "not_regular_file": "a symlink, FIFO, device, socket or directory where the format has a "
                        "regular file (or a symlink where it has a directory); never followed",
    "unsealed_file": "a .part file: written but never sealed (run `dualrec recover`)",
    "unknown_session": "a session directory the chain never opened",
    "malformed_record": "a complete ledger line that is not a well-formed record",
    "torn_tail": "the last ledger file ends in an incomplete line (run `dualrec recover`)",
    "empty_ledger_file": "an empty ledger file that is not the newest one",
    "broken_link": "a record's prev is not the hash of the record before it",
    "sequence_gap": "records are missing (sequence numbers jump)",
    "reordered_record": "a record's sequence number is not the next one",
    "bad_signature": "a record's signature does not verify",
    "foreign_key": "a record is signed by a key that is not this device's current key",
    "bad_first_record": "record 1 is not a genesis KEY record of the trusted key",
    "bad_key_record": "a KEY record whose data is malformed, or a genesis KEY after record 1",
    "foreign_device": "a record names another device",
    "time_went_backwards": "CLOCK_MONOTONIC decreased within one boot",
    "covered_twice": "two records claim the same file",
    "misplaced_file": "a record covers a path that is not a normalised plain path inside its "
                      "session's directory (or recovered/ for records without a session)",
    "record_outside_session": "a session record with no SESSION_START before it",
    "session_not_closed": "a session with no SESSION_END: left open across a restart, or (when "
                          "one session is verified) its end is missing",
    "session_ended_twice": "a second SESSION_END for a session",
    "manifest_mismatch": "a SESSION_END manifest differs from what the session's records sealed",
    "checkpoint_mismatch": "a CHECKPOINT's records_since_checkpoint is not the number of "
                           "records since the previous CHECKPOINT",
    "misnamed_ledger_file": "a ledger file's name is not the sequence number of its first record",
    "device_info_mismatch": "device/device.json differs from the trusted key or the chain",
    "untrusted_certificate": "the device certificate does not tie the chain's key to the fleet CA",
    "recorded_damage": "a DAMAGE record: the unit found evidence damaged (not by a power cut)",
    "bad_prune": "a pruned GAP that does not excuse what it lists (not a closed session's "
                 "sealed file, or without its object version and checksum)",
    "pruned_copy_missing": "a pruned file's object version is not in the bucket with the "
                           "sealed SHA-256 (verify --bucket)",
    "bad_witness": "a checkpoint given with --checkpoint is not a record signed by the device, "
                   "or a --checkpoint file holds no checkpoint at all",
    "rollback": "a published checkpoint is beyond the end of the chain (history cut off)",
    "rewritten": "a published checkpoint's record differs from the chain's (history rewritten)",
}


def escape(text: object) -> str:
    """``text`` with control, format and separator characters escaped (``\\n``, ``\\u202e``…)."""
    out = []
    for ch in str(text):
        cat = unicodedata.category(ch)
        if ch == "\\":
            out.append("\\\\")
        elif cat[0] == "C" or cat in ("Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


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
            where.append(escape(self.file) + (f":{self.line}" if self.line else ""))
        if self.record is not None:
            where.append(f"record {self.record}")
        return f"[{self.kind}] {' '.join(where)}: {escape(self.message)}"


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
    findings_total: int = 0
    findings_by_kind: dict[str, int] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)   # what each level of trust reached

    @property
    def ok(self) -> bool:
        return self.findings_total == 0

    def add(self, kind: str, message: str, *, file: str | None = None,
            record: int | None = None, line: int | None = None) -> None:
        finding = Finding(kind, str(message), file, record, line)
        self.findings_total += 1
        self.findings_by_kind[kind] = self.findings_by_kind.get(kind, 0) + 1
        if len(self.findings) < MAX_DETAILED:
            self.findings.append(finding)

    def note(self, kind: str, message: str, *, session: str | None = None,
             record: int | None = None) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(Note(kind, str(message), session, record))

    def to_json(self) -> str:
        out = asdict(self)
        out["verdict"] = "intact" if self.ok else "findings"
        return json.dumps(out, indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        lines = [f"dualrec verify: {escape(self.path)} ({self.scope} of device "
                 f"{escape(self.device_id)})",
                 f"  records   {self.first_seq}..{self.head_seq} ({self.records} read)",
                 f"  sessions  {len(self.sessions)}",
                 f"  files     {self.files_checked} checked, {self.bytes_checked:,} bytes",
                 f"  head      seq {self.head_seq} sha256 {escape(self.head_hash)}"]
        for level, result in self.levels.items():
            lines.append(f"  {level:<9} {escape(result)}")
        if self.notes:
            lines.append(f"  notes ({len(self.notes)}):")
            lines += [f"    - {escape(n.kind)}: {escape(n.message)}" for n in self.notes]
        if self.findings_total:
            lines.append(f"  findings ({self.findings_total}):")
            lines += [f"    - {f.text()}" for f in self.findings]
            if self.findings_total > len(self.findings):
                lines.append(f"    … {self.findings_total - len(self.findings)} more: "
                             + ", ".join(f"{k} {n}" for k, n in
                                         sorted(self.findings_by_kind.items())))
        lines.append("verdict: INTACT" if self.ok else
                     f"verdict: NOT INTACT ({self.findings_total} findings)")
        return "\n".join(lines)
