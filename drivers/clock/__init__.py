"""The one clock: CLOCK_MONOTONIC for every sample, CLOCK_REALTIME and NTP state beside it."""
from drivers.clock.base import Clock, ClockSample, SyncState
from drivers.clock.sim import SimClock
from drivers.clock.system import SystemClock
from drivers.clock.watch import ClockStep, ClockWatch

__all__ = ["Clock", "ClockSample", "SyncState", "SimClock", "SystemClock", "ClockStep",
           "ClockWatch"]
