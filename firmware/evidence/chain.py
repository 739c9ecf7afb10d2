"""Reading the chain: the one way code outside :mod:`firmware.evidence` reads ledger records.

Only regular ledger files are read (never through a symlink, never a FIFO), in name order,
and lines that are not records are skipped (``dualrec verify`` reports them; readers here only
want what the chain says).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from firmware.evidence import durable
from firmware.evidence.ledger_files import (LEDGER_DIR, LEDGER_NAME, last_complete_record,
                                            ledger_files, read_lines)
from firmware.evidence.records import Record


def ledger_paths(spool_root: str | os.PathLike) -> list[Path]:
    """The spool's regular ledger files, oldest first."""
    return [p for p in ledger_files(Path(spool_root) / LEDGER_DIR)
            if durable.lkind(p) == "regular"]


def is_ledger_name(name: str) -> bool:
    return bool(LEDGER_NAME.match(name))


def file_records(path: Path) -> Iterator[Record]:
    """The records of one ledger file, in order."""
    for ln in read_lines(path):
        if ln.record is not None:
            yield ln.record


def chain_records(spool_root: str | os.PathLike) -> Iterator[Record]:
    """Every record of the spool's chain, in order."""
    for path in ledger_paths(spool_root):
        yield from file_records(path)


def last_record(spool_root: str | os.PathLike) -> Record | None:
    """The newest complete record of the chain (read backwards: cheap on a long ledger)."""
    for path in reversed(ledger_paths(spool_root)):
        record, _ = last_complete_record(path)
        if record is not None:
            return record
    return None
