"""How long evidence is kept: in the bucket (Object Lock), on the unit, and when the disk is low.

Retention in the bucket counts from the upload: the unit cannot know when a contract ends, so
it sets the regulatory minimum (10 years for long-term policies, ../shared/REGULATION.md) and
the insurer extends an object's retain-until when a contract ends or a dispute starts
(COMPLIANCE retention can be extended, never shortened; legal hold has no end date).
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

LOCK_MODES = ("COMPLIANCE", "GOVERNANCE", "bucket-default")
NS_PER_DAY = 86_400 * 10**9


def add_years(when: dt.datetime, years: int) -> dt.datetime:
    """``when`` plus calendar years (29 February becomes 28 February)."""
    try:
        return when.replace(year=when.year + years)
    except ValueError:
        return when.replace(year=when.year + years, day=28)


@dataclass(frozen=True)
class RetentionPolicy:
    """Object Lock for every object the unit writes.

    ``mode`` COMPLIANCE (nobody, not even the bucket's root account, can delete or shorten),
    GOVERNANCE (privileged users can), or ``bucket-default`` (send no lock headers; the
    bucket's default retention applies, for stores without per-object lock headers).
    """

    years: int = 10
    mode: str = "COMPLIANCE"

    def __post_init__(self) -> None:
        if self.mode not in LOCK_MODES:
            raise ValueError(f"retention mode {self.mode!r}: must be one of {LOCK_MODES}")
        if not 1 <= self.years <= 100:
            raise ValueError(f"retention years {self.years}: must be between 1 and 100")

    def retain_until(self, wall_ns: int) -> dt.datetime | None:
        """Retain-until for an object written at ``wall_ns`` (CLOCK_REALTIME ns, UTC)."""
        if self.mode == "bucket-default":
            return None
        now = dt.datetime.fromtimestamp(wall_ns / 1e9, dt.timezone.utc).replace(microsecond=0)
        return add_years(now, self.years)

    def lock_args(self, wall_ns: int) -> dict:
        """The Object Lock arguments of PutObject / CreateMultipartUpload."""
        until = self.retain_until(wall_ns)
        if until is None:
            return {}
        return {"ObjectLockMode": self.mode, "ObjectLockRetainUntilDate": until}


@dataclass(frozen=True)
class LocalRetention:
    """When a file whose cloud copy is confirmed may leave the unit's disk.

    ``keep_days``: days after sealing a session file stays on the unit (for replay at the
    branch). ``prune_early_when_low_disk``: below the free-space threshold, confirmed files may
    go before that. Unconfirmed files are never deleted, whatever the disk says.
    """

    keep_days: float = 30.0
    prune_early_when_low_disk: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.keep_days <= 36_500:
            raise ValueError(f"keep_local_days {self.keep_days}: must be between 0 and 36500")

    def may_prune(self, sealed_wall_ns: int, now_wall_ns: int, disk_low: bool) -> bool:
        if disk_low and self.prune_early_when_low_disk:
            return True
        return now_wall_ns - sealed_wall_ns >= self.keep_days * NS_PER_DAY


@dataclass(frozen=True)
class DiskStatus:
    """Free space of the spool's file system. ``low``: refuse new recordings."""

    path: str
    free_bytes: int
    total_bytes: int
    min_free_bytes: int

    @property
    def low(self) -> bool:
        return self.free_bytes < self.min_free_bytes

    def as_dict(self) -> dict:
        return {**asdict(self), "low": self.low}


def disk_status(path: str | os.PathLike, min_free_bytes: int) -> DiskStatus:
    """Free bytes (as an unprivileged writer sees them) of the file system holding ``path``."""
    usage = shutil.disk_usage(Path(path))
    return DiskStatus(str(path), usage.free, usage.total, min_free_bytes)
