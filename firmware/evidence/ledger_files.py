"""Reading ledger files: where they are, and the records (or damage) they hold.

The ledger of a device is the files ``ledger/NNNNNNNNNNNN.ledger`` of its spool, named after the
sequence number of their first record and read in name order. Shared by the writer (to find the
head), the recovery and the verifier. Files are opened through :mod:`firmware.evidence.durable` (no
symlinks, no FIFOs) and a line longer than :data:`MAX_LINE` is reported, not read whole.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from firmware.evidence import durable
from firmware.evidence.records import MalformedRecord, Record, parse_line

LEDGER_DIR = "ledger"
LEDGER_NAME = re.compile(r"^(\d{12})\.ledger$")
MAX_LINE = 16 * 1024 * 1024   # a SESSION_END manifest of a very long session stays far below


def ledger_name(first_seq: int) -> str:
    return f"{first_seq:012d}.ledger"


def ledger_files(ledger_dir: Path) -> list[Path]:
    """The ledger-named entries in order (by the sequence number in their names); whether
    each is a regular file is for the caller to check (:func:`firmware.evidence.durable.lkind`)."""
    if durable.lkind(ledger_dir) != "directory":
        return []
    return sorted(Path(ledger_dir) / n for n in os.listdir(ledger_dir) if LEDGER_NAME.match(n))


@dataclass(frozen=True)
class LedgerLine:
    """One line of a ledger file: the record, or why it is not one."""

    path: Path
    line_no: int          # 1-based
    offset: int           # byte offset of the line's start
    raw: bytes            # the line (cut at MAX_LINE + 1 bytes when longer)
    record: Record | None
    error: str | None     # set when record is None
    complete: bool        # the line ended with a newline
    length: int = -1      # the line's full length in bytes (raw may be cut)

    @property
    def size(self) -> int:
        return self.length if self.length >= 0 else len(self.raw)


def read_lines(path: Path, max_line: int = MAX_LINE) -> Iterator[LedgerLine]:
    """Every line of one ledger file, parsed; a last line without a newline is incomplete.
    Raises :class:`~firmware.evidence.durable.NotRegularFileError` for anything but a regular file."""
    fd = durable.open_regular(path)
    with os.fdopen(fd, "rb") as f:
        offset = 0
        line_no = 0
        while True:
            raw = f.readline(max_line + 1)
            if not raw:
                return
            line_no += 1
            length = len(raw)
            if len(raw) > max_line and not raw.endswith(b"\n"):
                while True:  # skip the rest of an over-long line without keeping it
                    more = f.readline(1 << 20)
                    length += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                complete = length > 0 and f.tell() > 0 and _ended_with_lf(f)
                yield LedgerLine(path, line_no, offset, raw[:max_line + 1], None,
                                 f"the line is longer than {max_line} bytes", complete, length)
                offset += length
                continue
            complete = raw.endswith(b"\n")
            try:
                record, error = parse_line(raw), None
            except MalformedRecord as exc:
                record, error = None, str(exc)
            yield LedgerLine(path, line_no, offset, raw, record, error, complete, length)
            offset += length


def _ended_with_lf(f) -> bool:
    pos = f.tell()
    f.seek(pos - 1)
    last = f.read(1)
    f.seek(pos)
    return last == b"\n"


def first_record(path: Path) -> Record | None:
    """The first line's record, or None when it is not one (or the file is empty)."""
    for ln in read_lines(path):
        return ln.record
    return None


def last_complete_record(path: Path) -> tuple[Record | None, int]:
    """The last well-formed, newline-terminated record of ``path`` and the byte length of the
    file up to and including it. Reads backwards in blocks, keeping at most one line
    (:data:`MAX_LINE`) of carry-over, so a long or garbage-filled file costs little."""
    fd = durable.open_regular(path)
    with os.fdopen(fd, "rb") as f:
        end = os.fstat(f.fileno()).st_size
        block = 64 * 1024
        carry = b""   # bytes from ``end`` on: the end of a line that starts before ``end``
        while end > 0:
            start = max(0, end - block)
            f.seek(start)
            chunk = f.read(end - start) + carry
            pos = len(chunk)
            nl = -1
            while True:
                nl = chunk.rfind(b"\n", 0, pos)
                if nl < 0:
                    break
                line_start = chunk.rfind(b"\n", 0, nl) + 1
                if line_start == 0 and start > 0:
                    break  # the line may begin before this block: read more
                try:
                    return parse_line(chunk[line_start:nl + 1]), start + nl + 1
                except MalformedRecord:
                    pos = nl
            carry = chunk[:nl + 1] if nl >= 0 else chunk
            if len(carry) > MAX_LINE + 1:
                carry = b""  # a line this long is no record: look before it
            end = start
    return None, 0
