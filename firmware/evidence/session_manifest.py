"""What the evidence layer keeps about an open session, and the manifest its SESSION_END
carries (shared by :mod:`firmware.evidence.store` and :mod:`firmware.evidence.recovery`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from firmware.evidence import records
from firmware.evidence.records import FileEntry, Record

RECOVERY_GAPS = ("power_cut", "unsealed_files")


@dataclass
class SessionState:
    """An open session: where it started, every file sealed in it, records by kind."""

    session_id: str
    start_seq: int
    files: list[FileEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    key: Any = None   # the session's SessionKey while it is open (encryption at rest)


def session_manifest(files: list[FileEntry], counts: dict[str, int], start_seq: int) -> dict:
    """The manifest a SESSION_END carries: every file of the session, in sealing order, and
    ``records_by_kind``: for each record of the session that sealed files, its ``stream``
    (or its type in lower case), counted; recovery's own GAP counts as ``recovered``."""
    return {"start_seq": start_seq, "file_count": len(files),
            "bytes": sum(f.size for f in files), "records_by_kind": dict(sorted(counts.items())),
            "files": [f.as_record() for f in files]}


def sealing_kind(rec: Record) -> str:
    """The ``records_by_kind`` key of a record that seals files: recovery's GAP counts as
    ``recovered``; any other its ``data.stream`` if that is a string, else its type in lower
    case."""
    if rec.type == records.GAP and rec.data.get("kind") in RECOVERY_GAPS:
        return "recovered"
    stream = rec.data.get("stream")
    return stream if isinstance(stream, str) else rec.type.lower()
