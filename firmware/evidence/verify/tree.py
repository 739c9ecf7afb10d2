"""The verifier's look at the spool's files: every sealed file hashed (regular files only,
never through a symlink), and every entry of the tree accounted for."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from firmware.evidence import durable
from firmware.evidence.durable import NotRegularFileError, hash_regular
from firmware.evidence.ledger_files import LEDGER_DIR
from firmware.evidence.records import FileEntry
from firmware.evidence.spool import (DEVICE_DIR, DEVICE_INFO, PART_SUFFIX, RECOVERED_DIR, SESSIONS_DIR,
                            STATE_DIR, Spool)
from firmware.evidence.verify.chain import Chain
from firmware.evidence.verify.report import VerifyReport

TOP_LEVEL = {DEVICE_DIR, LEDGER_DIR, SESSIONS_DIR, RECOVERED_DIR, STATE_DIR, "lost+found"}
HASH_WORKERS = max(2, os.cpu_count() or 2)


def _reachable(spool: Spool, rel: str) -> str | None:
    """Why the directories on the way to ``rel`` cannot be trusted (a symlink…), or None."""
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        kind = durable.lkind(spool.root.joinpath(*parts[:i]))
        if kind == "missing":
            return None  # the file is then simply missing
        if kind != "directory":
            return f"{'/'.join(parts[:i])} is a {kind}"
    return None


def check_files(spool: Spool, chain: Chain, only: str | None, report: VerifyReport) -> None:
    """Every file a record seals, in scope: there, a regular file, the sealed size and hash."""
    wanted = [(e, seq) for e, seq, sid in chain.covered.values()
              if only is None or sid == only]

    def check(item: tuple[FileEntry, int]) -> tuple[FileEntry, int, object]:
        entry, seq = item
        blocked = _reachable(spool, entry.path)
        if blocked:
            return entry, seq, NotRegularFileError(entry.path, blocked)
        try:
            return entry, seq, hash_regular(spool.root / entry.path)
        except (FileNotFoundError, NotADirectoryError):
            return entry, seq, None
        except OSError as exc:
            return entry, seq, exc

    with ThreadPoolExecutor(max_workers=HASH_WORKERS) as pool:
        for entry, seq, got in pool.map(check, wanted):
            if got is None:
                if entry.path not in chain.pruned:
                    report.add("missing_file", "sealed here, now gone", file=entry.path,
                               record=seq)
                continue
            if isinstance(got, OSError):
                kind = "not_regular_file" if isinstance(got, NotRegularFileError) \
                    else "missing_file"
                report.add(kind, f"cannot be read: {got}", file=entry.path, record=seq)
                continue
            digest, size = got
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


def check_tree(spool: Spool, chain: Chain, only: str | None, report: VerifyReport) -> None:
    """Every entry accounted for: nothing stray at the top, in device/ or in the session
    directories and recovered/; no symlink anywhere the format has a file or directory."""
    if only is None:
        _top_level(spool, report)
        _device_dir(spool, report)
        sessions_kind = durable.lkind(spool.sessions_dir)
        if sessions_kind == "directory":
            for name in sorted(os.listdir(spool.sessions_dir)):
                rel = f"{SESSIONS_DIR}/{name}"
                kind = durable.lkind(spool.sessions_dir / name)
                if name not in chain.sessions:
                    report.add("unknown_session", f"a {kind} no SESSION_START opened",
                               file=rel)
                    if kind == "directory":
                        _flat_dir(spool, rel, chain, report)
                elif kind != "directory":
                    report.add("not_regular_file", f"a {kind} where the session's directory "
                               "should be; not followed", file=rel)
                else:
                    _flat_dir(spool, rel, chain, report)
        elif sessions_kind != "missing":
            report.add("not_regular_file", f"a {sessions_kind} where the sessions directory "
                       "should be; not followed", file=SESSIONS_DIR)
        recovered_kind = durable.lkind(spool.root / RECOVERED_DIR)
        if recovered_kind == "directory":
            _flat_dir(spool, RECOVERED_DIR, chain, report)
        elif recovered_kind != "missing":
            report.add("not_regular_file", f"a {recovered_kind} where recovered/ should be; "
                       "not followed", file=RECOVERED_DIR)
        return
    rel = f"{SESSIONS_DIR}/{only}"
    kind = durable.lkind(spool.root / rel)
    if kind == "directory" and durable.lkind(spool.sessions_dir) == "directory":
        _flat_dir(spool, rel, chain, report)
    elif kind != "missing":
        report.add("not_regular_file", f"a {kind} where the session's directory should be; "
                   "not followed", file=rel)


def _top_level(spool: Spool, report: VerifyReport) -> None:
    for name in sorted(os.listdir(spool.root)):
        kind = durable.lkind(spool.root / name)
        if name not in TOP_LEVEL:
            report.add("extra_file", f"a {kind} that is not part of a spool", file=name)
        elif kind != "directory":
            report.add("not_regular_file", f"a {kind} where the {name} directory should be",
                       file=name)


def _device_dir(spool: Spool, report: VerifyReport) -> None:
    device = spool.root / DEVICE_DIR
    if durable.lkind(device) != "directory":
        return  # reported by _top_level (or device.json is missing: the anchor said so)
    for name in sorted(os.listdir(device)):
        rel = f"{DEVICE_DIR}/{name}"
        if rel != DEVICE_INFO:
            report.add("extra_file", f"a {durable.lkind(device / name)} that the format does "
                       "not name", file=rel)


def _flat_dir(spool: Spool, rel_dir: str, chain: Chain, report: VerifyReport) -> None:
    """A session directory or recovered/: plain files only, each sealed by a record."""
    for entry in durable.walk(spool.root / rel_dir):
        rel = f"{rel_dir}/{entry.rel}"
        if rel in chain.covered:
            continue  # check_files checks it against its record
        if entry.kind == "regular" and entry.rel.endswith(PART_SUFFIX):
            report.add("unsealed_file", "written but never sealed", file=rel)
        elif entry.kind == "regular":
            report.add("extra_file", "no record covers this file", file=rel)
        else:
            report.add("not_regular_file" if entry.kind != "directory" else "extra_file",
                       f"a {entry.kind} no record covers; not followed", file=rel)
