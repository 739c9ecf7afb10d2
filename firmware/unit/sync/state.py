"""Upload progress, kept in ``SPOOL/state/`` (operational state, not evidence; verify ignores it).

One SQLite database per target (endpoint, bucket, prefix): what is confirmed in the bucket, the
open multipart uploads with their completed parts, how far the open ledger file's tail is up,
and the conflicts found. Losing it costs time, not evidence: every object is then re-checked
(a PUT answered 412, confirmed by HEAD).
"""
from __future__ import annotations

import errno
import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from firmware.errors import StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY, rel TEXT NOT NULL, kind TEXT NOT NULL, ledger TEXT NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, sealed_wall_ns INTEGER NOT NULL,
    checksum TEXT NOT NULL, version_id TEXT, session TEXT, confirmed_wall_ns INTEGER NOT NULL,
    prunable INTEGER NOT NULL, pruned_wall_ns INTEGER);
CREATE INDEX IF NOT EXISTS objects_ledger ON objects (ledger);
CREATE INDEX IF NOT EXISTS objects_prunable ON objects (prunable, sealed_wall_ns);
CREATE TABLE IF NOT EXISTS ledgers_done (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS ledger_tail (name TEXT PRIMARY KEY, end_offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions_ended (session TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS multipart (
    key TEXT PRIMARY KEY, upload_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, part_size INTEGER NOT NULL, started_wall_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS parts (
    key TEXT NOT NULL, number INTEGER NOT NULL, etag TEXT NOT NULL, checksum TEXT NOT NULL,
    size INTEGER NOT NULL, PRIMARY KEY (key, number));
CREATE TABLE IF NOT EXISTS conflicts (
    key TEXT PRIMARY KEY, rel TEXT NOT NULL, expected TEXT NOT NULL, found TEXT NOT NULL,
    wall_ns INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Confirmed:
    """An object confirmed in the bucket (HEAD: its size and SHA-256 checksum matched)."""

    key: str
    rel: str
    kind: str
    ledger: str
    sha256: str             # hex SHA-256 of the whole file
    size: int
    sealed_wall_ns: int     # CLOCK_REALTIME ns of the record that sealed it
    checksum: str           # the bucket's x-amz-checksum-sha256 (base64, maybe "-N")
    version_id: str | None
    session: str | None = None
    pruned_wall_ns: int | None = None


@dataclass(frozen=True)
class MultipartUpload:
    key: str
    upload_id: str
    sha256: str
    size: int
    part_size: int


@dataclass(frozen=True)
class Part:
    number: int
    etag: str
    checksum: str           # base64 SHA-256 of the part
    size: int


@dataclass(frozen=True)
class Conflict:
    key: str
    rel: str
    expected: str
    found: str
    wall_ns: int


def target_id(endpoint: str, bucket: str, prefix: str) -> str:
    return hashlib.sha256(f"{endpoint}\n{bucket}\n{prefix}".encode()).hexdigest()[:16]


class SyncStateDB:
    """The progress database of one target; every method is one transaction; thread-safe."""

    def __init__(self, state_dir: Path, endpoint: str, bucket: str, prefix: str) -> None:
        self.path = Path(state_dir) / f"sync-{target_id(endpoint, bucket, prefix)}.sqlite3"
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db: sqlite3.Connection | None = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('target', ?)",
                             (f"{endpoint or 'aws'} s3://{bucket}/{prefix}",))
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(getattr(exc, "errno", None) or errno.EIO,
                               f"cannot open the sync state {self.path}: {exc}") from exc

    def _tx(self, *statements: tuple[str, tuple], many: list[tuple] | None = None
            ) -> list[tuple]:
        """Run ``statements`` in one transaction (the last one ``executemany`` over ``many``
        when given); the rows of the last statement."""
        with self._lock:
            if self._db is None:
                raise ValueError(f"sync state {self.path} is closed")
            self._db.execute("BEGIN")
            try:
                rows: list[tuple] = []
                for n, (sql, args) in enumerate(statements):
                    if many is not None and n == len(statements) - 1:
                        self._db.executemany(sql, many)
                    else:
                        rows = self._db.execute(sql, args).fetchall()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return rows

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._tx((sql, args))

    def _many(self, sql: str, rows: list[tuple]) -> None:
        self._tx((sql, ()), many=rows)

    # -- confirmed objects ---------------------------------------------------------------------
    def mark_confirmed(self, c: Confirmed, now_wall_ns: int) -> None:
        prunable = 1 if c.kind == "media" and c.rel.startswith("sessions/") else 0
        self._tx(("INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
                  (c.key, c.rel, c.kind, c.ledger, c.sha256, c.size, c.sealed_wall_ns,
                   c.checksum, c.version_id, c.session, now_wall_ns, prunable)),
                 ("DELETE FROM conflicts WHERE key = ?", (c.key,)))

    def confirmed(self, key: str) -> Confirmed | None:
        rows = self._run("SELECT key, rel, kind, ledger, sha256, size, sealed_wall_ns, "
                         "checksum, version_id, session, pruned_wall_ns FROM objects WHERE key = ?",
                         (key,))
        return Confirmed(*rows[0]) if rows else None

    def confirmed_keys(self, ledger: str) -> set[str]:
        """Keys confirmed for the files sealed in ledger file ``ledger`` (and the file)."""
        return {r[0] for r in self._run("SELECT key FROM objects WHERE ledger = ?", (ledger,))}

    def prune_candidates(self, sealed_before_ns: int | None, limit: int) -> list[Confirmed]:
        """Confirmed, not yet pruned files of ended sessions, oldest first; all of them when
        ``sealed_before_ns`` is None, else those sealed before it."""
        cutoff = sealed_before_ns if sealed_before_ns is not None else 2**62
        rows = self._run("SELECT key, rel, kind, ledger, sha256, size, sealed_wall_ns, "
                         "checksum, version_id, session, pruned_wall_ns FROM objects "
                         "WHERE prunable = 1 AND sealed_wall_ns < ? AND session IN "
                         "(SELECT session FROM sessions_ended) ORDER BY sealed_wall_ns LIMIT ?",
                         (cutoff, limit))
        return [Confirmed(*r) for r in rows]

    def mark_pruned(self, keys: list[str], now_wall_ns: int) -> None:
        self._many("UPDATE objects SET prunable = 0, pruned_wall_ns = ? WHERE key = ?",
                   [(now_wall_ns, k) for k in keys])

    # -- ledger progress -----------------------------------------------------------------------
    def done_ledgers(self) -> set[str]:
        return {r[0] for r in self._run("SELECT name FROM ledgers_done")}

    def mark_ledger_done(self, name: str) -> None:
        self._tx(("INSERT OR IGNORE INTO ledgers_done VALUES (?)", (name,)),
                 ("DELETE FROM ledger_tail WHERE name = ?", (name,)))

    def tail_end(self, name: str) -> int | None:
        rows = self._run("SELECT end_offset FROM ledger_tail WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def set_tail_end(self, name: str, end: int) -> None:
        self._run("INSERT OR REPLACE INTO ledger_tail VALUES (?, ?)", (name, end))

    def mark_sessions_ended(self, sessions: set[str]) -> None:
        self._many("INSERT OR IGNORE INTO sessions_ended VALUES (?)", [(s,) for s in sessions])

    def ended_sessions(self) -> set[str]:
        return {r[0] for r in self._run("SELECT session FROM sessions_ended")}

    # -- multipart uploads ---------------------------------------------------------------------
    def multipart(self, key: str) -> MultipartUpload | None:
        rows = self._run("SELECT key, upload_id, sha256, size, part_size FROM multipart "
                         "WHERE key = ?", (key,))
        return MultipartUpload(*rows[0]) if rows else None

    def save_multipart(self, mp: MultipartUpload, now_wall_ns: int) -> None:
        self._tx(("DELETE FROM parts WHERE key = ?", (mp.key,)),
                 ("INSERT OR REPLACE INTO multipart VALUES (?,?,?,?,?,?)",
                  (mp.key, mp.upload_id, mp.sha256, mp.size, mp.part_size, now_wall_ns)))

    def parts(self, key: str) -> dict[int, Part]:
        rows = self._run("SELECT number, etag, checksum, size FROM parts WHERE key = ?", (key,))
        return {r[0]: Part(*r) for r in rows}

    def save_part(self, key: str, part: Part) -> None:
        self._run("INSERT OR REPLACE INTO parts VALUES (?,?,?,?,?)",
                  (key, part.number, part.etag, part.checksum, part.size))

    def drop_multipart(self, key: str) -> None:
        self._tx(("DELETE FROM parts WHERE key = ?", (key,)),
                 ("DELETE FROM multipart WHERE key = ?", (key,)))

    # -- conflicts -----------------------------------------------------------------------------
    def record_conflict(self, c: Conflict) -> None:
        self._run("INSERT OR REPLACE INTO conflicts VALUES (?,?,?,?,?)",
                  (c.key, c.rel, c.expected, c.found, c.wall_ns))

    def conflicts(self) -> list[Conflict]:
        return [Conflict(*r) for r in self._run("SELECT key, rel, expected, found, wall_ns "
                                                 "FROM conflicts ORDER BY key")]

    def close(self) -> None:
        """Close the database; safe twice."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> "SyncStateDB":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
