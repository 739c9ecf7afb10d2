"""The clock interface every part of the appliance takes its time from."""
from __future__ import annotations

import abc
from dataclasses import dataclass


@dataclass(frozen=True)
class SyncState:
    """What the kernel says about NTP discipline of CLOCK_REALTIME.

    ``est_error_us`` and ``max_error_us`` are the kernel's estimated and maximum error in
    microseconds (``adjtimex``); ``source`` names where the answer came from.
    """

    synced: bool
    est_error_us: int
    max_error_us: int
    source: str

    def as_record(self) -> dict:
        return {"synced": self.synced, "est_error_us": self.est_error_us,
                "max_error_us": self.max_error_us, "source": self.source}


@dataclass(frozen=True)
class ClockSample:
    """One reading of both clocks, taken back to back (monotonic, realtime, monotonic)."""

    monotonic_ns: int
    realtime_ns: int
    boot_id: str
    sync: SyncState

    def as_record(self) -> dict:
        return {"mono_ns": self.monotonic_ns, "wall_ns": self.realtime_ns,
                "boot_id": self.boot_id, "sync": self.sync.as_record()}


class Clock(abc.ABC):
    """CLOCK_MONOTONIC in nanoseconds is the time of every sample the appliance captures."""

    @abc.abstractmethod
    def monotonic_ns(self) -> int:
        """CLOCK_MONOTONIC, nanoseconds."""

    @abc.abstractmethod
    def realtime_ns(self) -> int:
        """CLOCK_REALTIME (wall time, UTC), nanoseconds since the epoch."""

    @abc.abstractmethod
    def boot_id(self) -> str:
        """An id that changes at every boot: monotonic times compare only within one."""

    @abc.abstractmethod
    def sync_state(self) -> SyncState:
        """Whether wall time is synchronised (NTP) and how well."""

    def sleep_until_ns(self, monotonic_ns: int) -> None:
        """Block until CLOCK_MONOTONIC reaches ``monotonic_ns``."""
        import time
        delay = (monotonic_ns - self.monotonic_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)

    def sample(self) -> ClockSample:
        """Both clocks read as close together as possible, for reconstructing wall time."""
        before = self.monotonic_ns()
        wall = self.realtime_ns()
        after = self.monotonic_ns()
        return ClockSample((before + after) // 2, wall, self.boot_id(), self.sync_state())
