"""The real clock: the kernel's CLOCK_MONOTONIC and CLOCK_REALTIME, NTP state from adjtimex."""
from __future__ import annotations

import ctypes
import ctypes.util
import time
from pathlib import Path

from drivers.clock.base import Clock, SyncState

_STA_UNSYNC = 0x0040
_TIME_ERROR = 5


class _Timex(ctypes.Structure):
    """``struct timex`` from <sys/timex.h> (the layout is the same on arm64 and x86_64)."""

    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long), ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_pad", ctypes.c_int * 11),
    ]


class SystemClock(Clock):
    """The kernel's clocks. ``boot_id_path`` is the kernel's per-boot random id."""

    def __init__(self, boot_id_path: str = "/proc/sys/kernel/random/boot_id") -> None:
        self._boot_id = Path(boot_id_path).read_text().strip()
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def monotonic_ns(self) -> int:
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC)

    def realtime_ns(self) -> int:
        return time.clock_gettime_ns(time.CLOCK_REALTIME)

    def boot_id(self) -> str:
        return self._boot_id

    def sync_state(self) -> SyncState:
        tx = _Timex()  # modes = 0: read only
        state = self._libc.adjtimex(ctypes.byref(tx))
        if state < 0:
            return SyncState(False, -1, -1, f"adjtimex failed (errno {ctypes.get_errno()})")
        synced = state != _TIME_ERROR and not (tx.status & _STA_UNSYNC)
        return SyncState(synced, int(tx.esterror), int(tx.maxerror), "adjtimex")
