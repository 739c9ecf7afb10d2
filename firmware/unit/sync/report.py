"""What a sync run did and what is still waiting: for the daemon, the fleet and the CLI."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from firmware.protocol.bucket.errors import ObjectConflictError, SyncError


@dataclass(frozen=True)
class Backlog:
    """Sealed evidence not yet confirmed in the bucket (for fleet telemetry).

    ``items``/``bytes``: objects (files, ledger files and ranges) still to confirm.
    ``oldest_sealed_wall_ns``: CLOCK_REALTIME ns when the oldest of them was sealed;
    ``oldest_age_s``: seconds from then to ``at_wall_ns``. ``conflicts``: keys where a different
    object sits in the bucket; ``lost``: sealed files neither on the unit nor in the bucket.
    """

    items: int = 0
    bytes: int = 0
    oldest_sealed_wall_ns: int | None = None
    oldest_age_s: float | None = None
    conflicts: int = 0
    lost: int = 0
    at_wall_ns: int = 0

    def as_dict(self) -> dict:
        return {"items": self.items, "bytes": self.bytes,
                "oldest_sealed_wall_ns": self.oldest_sealed_wall_ns,
                "oldest_age_s": None if self.oldest_age_s is None else round(self.oldest_age_s, 3),
                "conflicts": self.conflicts, "lost": self.lost}


class BacklogCounter:
    """Adds up a backlog while the uploader walks the spool."""

    def __init__(self) -> None:
        self.items = 0
        self.bytes = 0
        self.oldest: int | None = None

    def add(self, size: int, sealed_wall_ns: int) -> None:
        self.items += 1
        self.bytes += size
        if sealed_wall_ns and (self.oldest is None or sealed_wall_ns < self.oldest):
            self.oldest = sealed_wall_ns

    def result(self, now_wall_ns: int, conflicts: int, lost: int) -> Backlog:
        age = None if self.oldest is None else max(0.0, (now_wall_ns - self.oldest) / 1e9)
        return Backlog(self.items, self.bytes, self.oldest, age, conflicts, lost, now_wall_ns)


@dataclass
class Progress:
    """Progress of one run; ``files_total``/``bytes_total`` is the backlog when it started."""

    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    started: float = field(default_factory=time.monotonic)   # time.monotonic() seconds

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Bytes per second written by this run so far."""
        return self.bytes_done / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class SyncResult:
    """One run of the uploader. ``error`` is what stopped it early (endpoint unreachable,
    bucket refusing); ``problems`` are per-file faults that did not stop it."""

    uploaded: int = 0           # objects written by this run
    already: int = 0            # objects found in the bucket already (checksum confirmed)
    bytes_uploaded: int = 0
    deferred: int = 0           # media held back by the schedule
    pruned: int = 0             # local files deleted (cloud copy confirmed, policy allowed)
    conflicts: list[ObjectConflictError] = field(default_factory=list)
    problems: list[SyncError] = field(default_factory=list)
    error: BaseException | None = None
    backlog: Backlog = field(default_factory=Backlog)

    @property
    def complete(self) -> bool:
        """Everything sealed is in the bucket and confirmed, and nothing went wrong."""
        return (self.error is None and not self.conflicts and not self.problems
                and self.deferred == 0 and self.backlog.items == 0)

    def summary(self) -> str:
        parts = [f"{self.uploaded} uploaded ({self.bytes_uploaded:,} bytes)",
                 f"{self.already} already there", f"{self.backlog.items} waiting"]
        if self.deferred:
            parts.append(f"{self.deferred} media deferred by the schedule")
        if self.pruned:
            parts.append(f"{self.pruned} pruned locally")
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} CONFLICTS")
        if self.problems:
            parts.append(f"{len(self.problems)} problems")
        if self.error is not None:
            parts.append(f"stopped: {self.error}")
        return ", ".join(parts)
