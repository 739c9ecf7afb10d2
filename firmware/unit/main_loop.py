"""The daemon's main loop: CLOCK records, the watchdog, the periodic self-test while idle,
giving freed memory back, and telling systemd what the unit is doing — until ``stop``."""
from __future__ import annotations

import ctypes
import ctypes.util
import threading

from firmware.unit.appliance import Appliance
from firmware.unit.notify import Notifier

TRIM_EVERY_NS = 30_000_000_000


def release_memory() -> None:
    """Hand freed heap back to the kernel (glibc's malloc_trim): a self-test or a session at
    1080p leaves tens of MB of freed frames in the heap, which RSS would otherwise keep."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass


def run_forever(appliance: Appliance, stop: threading.Event, notifier: Notifier, *,
                selftest_every_s: int) -> None:
    appliance.flow.request_selftest()
    notifier.ready(f"device {appliance.view.device_id} ready")
    last_selftest = last_trim = appliance.clock.monotonic_ns()
    usec = notifier.watchdog_usec()
    interval = max(0.5, usec / 2e6) if usec else 1.0
    while not stop.wait(min(interval, 1.0)):
        appliance.clock_records.check()
        if appliance.healthy():
            notifier.watchdog()
        now = appliance.clock.monotonic_ns()
        snap = appliance.view.flow
        if snap.state == "idle" and now - last_selftest > selftest_every_s * 1e9:
            appliance.flow.request_selftest()
            last_selftest = now
        if not appliance.view.recording and now - last_trim > TRIM_EVERY_NS:
            release_memory()
            last_trim = now
        notifier.status(snap.state + (f" {snap.session_id}" if snap.session_id else ""))
    notifier.stopping()
