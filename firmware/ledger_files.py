"""Reading ledger files: where they are, and the records (or damage) they hold.

The ledger of a device is the files ``ledger/NNNNNNNNNNNN.ledger`` of its spool, named after the
sequence number of their first record and read in name order. Shared by the writer (to find the
head), the recovery and the verifier.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from firmware.records import MalformedRecord, Record, parse_line

LEDGER_DIR = "ledger"
LEDGER_NAME = re.compile(r"^(\d{12})\.ledger$")


def ledger_name(first_seq: int) -> str:
    return f"{first_seq:012d}.ledger"


def ledger_files(ledger_dir: Path) -> list[Path]:
    """The ledger files in order (by the sequence number in their names)."""
    if not ledger_dir.is_dir():
        return []
    return sorted(p for p in ledger_dir.iterdir() if LEDGER_NAME.match(p.name))


@dataclass(frozen=True)
class LedgerLine:
    """One line of a ledger file: the record, or why it is not one."""

    path: Path
    line_no: int          # 1-based
    offset: int           # byte offset of the line's start
    raw: bytes
    record: Record | None
    error: str | None     # set when record is None
    complete: bool        # the line ended with a newline


def read_lines(path: Path) -> Iterator[LedgerLine]:
    """Every line of one ledger file, parsed; a last line without a newline is incomplete."""
    with open(path, "rb") as f:
        offset = 0
        for line_no, raw in enumerate(f, start=1):
            complete = raw.endswith(b"\n")
            try:
                record, error = parse_line(raw), None
            except MalformedRecord as exc:
                record, error = None, str(exc)
            yield LedgerLine(path, line_no, offset, raw, record, error, complete)
            offset += len(raw)


def last_complete_record(path: Path) -> tuple[Record | None, int]:
    """The last well-formed, newline-terminated record of ``path`` and the byte length of the
    file up to and including it. Reads backwards in blocks, so a long file costs little."""
    size = os.path.getsize(path)
    block = 64 * 1024
    with open(path, "rb") as f:
        end = size
        tail = b""
        while end > 0:
            start = max(0, end - block)
            f.seek(start)
            tail = f.read(end - start) + tail
            end = start
            # candidate line ends, last first; the byte after each is a line start or EOF
            pos = len(tail)
            while True:
                nl = tail.rfind(b"\n", 0, pos)
                if nl < 0:
                    break
                line_start = tail.rfind(b"\n", 0, nl) + 1
                if line_start == 0 and start > 0:
                    break  # the line may begin before this block: read more
                try:
                    record = parse_line(tail[line_start:nl + 1])
                except MalformedRecord:
                    pos = nl
                    continue
                return record, start + nl + 1
            if nl < 0 and start == 0:
                break
    return None, 0
