"""A controllable clock for tests and simulations: steps, drift, sync state, reboots."""
from __future__ import annotations

import threading
import time
import uuid

from drivers.clock.base import Clock, SyncState


class SimClock(Clock):
    """A clock that follows the real monotonic clock (``realtime=True``, ``rate`` times as fast:
    a simulated session can run faster than life) or only moves when told.

    Test controls: :meth:`advance`, :meth:`step_wall`, :meth:`set_drift_ppm`, :meth:`set_synced`,
    :meth:`reboot`. With ``realtime=False``, :meth:`sleep_until_ns` advances the clock instead
    of sleeping, so a 15-minute session runs as fast as the code allows.
    """

    def __init__(self, *, realtime: bool = True, start_wall_ns: int | None = None,
                 synced: bool = True, rate: float = 1.0) -> None:
        if rate <= 0:
            raise ValueError(f"rate={rate!r}: must be > 0")
        self._lock = threading.Lock()
        self._realtime = realtime
        self._rate = rate
        self._base_real = time.monotonic_ns()
        self._mono_offset = 1_000_000_000_000  # monotonic starts at 1000 s, as after a boot
        self._manual_ns = 0
        self._wall_at_zero = (time.time_ns() if start_wall_ns is None else start_wall_ns)
        self._wall_offset = 0
        self._drift_ppm = 0.0
        self._synced = synced
        self._boot_id = str(uuid.uuid4())

    def _elapsed_ns(self) -> int:
        if self._realtime:
            return int((time.monotonic_ns() - self._base_real) * self._rate) + self._manual_ns
        return self._manual_ns

    def monotonic_ns(self) -> int:
        with self._lock:
            return self._mono_offset + self._elapsed_ns()

    def realtime_ns(self) -> int:
        with self._lock:
            elapsed = self._elapsed_ns()
            return (self._wall_at_zero + self._wall_offset + elapsed
                    + int(elapsed * self._drift_ppm / 1e6))

    def boot_id(self) -> str:
        return self._boot_id

    def sync_state(self) -> SyncState:
        with self._lock:
            if self._synced:
                return SyncState(True, 1_000, 10_000, "sim")
            return SyncState(False, 16_000_000, 16_000_000, "sim")

    def sleep_until_ns(self, monotonic_ns: int) -> None:
        if self._realtime:
            delay = (monotonic_ns - self.monotonic_ns()) / 1e9 / self._rate
            if delay > 0:
                time.sleep(delay)
            return
        with self._lock:
            target = monotonic_ns - self._mono_offset
            if target > self._manual_ns:
                self._manual_ns = target

    # -- test controls ---------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` (on top of real time when realtime)."""
        with self._lock:
            self._manual_ns += int(seconds * 1e9)

    def step_wall(self, seconds: float) -> None:
        """Step CLOCK_REALTIME alone (what an NTP step or a wrong RTC does)."""
        with self._lock:
            self._wall_offset += int(seconds * 1e9)

    def set_drift_ppm(self, ppm: float) -> None:
        """Let CLOCK_REALTIME run ``ppm`` parts per million fast (negative: slow) from now on.

        The drift accumulated so far is kept, so changing the rate does not step wall time."""
        with self._lock:
            elapsed = self._elapsed_ns()
            self._wall_offset += (int(elapsed * self._drift_ppm / 1e6)
                                  - int(elapsed * ppm / 1e6))
            self._drift_ppm = ppm

    def set_synced(self, synced: bool) -> None:
        with self._lock:
            self._synced = synced

    def reboot(self) -> None:
        """A new boot: a new boot id, monotonic time starts again near zero."""
        with self._lock:
            self._boot_id = str(uuid.uuid4())
            self._mono_offset = 1_000_000_000 - self._elapsed_ns()
