"""The STATUS LED, with one owner: it shows fault while anything keeps the unit from recording
properly (a failed self-test, a flow fault, unacknowledged evidence damage, a dead uplink), and
online otherwise. Everyone else reports; only :class:`StatusLight` sets the LED."""
from __future__ import annotations

import threading


class StatusLight:
    def __init__(self, panel) -> None:
        self._panel = panel
        self._lock = threading.Lock()
        self._faults: dict[str, str] = {}
        self._shown: str | None = None

    def set_fault(self, part: str, why: str | None) -> None:
        """``why`` None clears ``part``'s fault."""
        with self._lock:
            if why is None:
                self._faults.pop(part, None)
            else:
                self._faults[part] = why
            want = "fault" if self._faults else "online"
            if want != self._shown:
                self._shown = want
                self._panel.status(want)

    @property
    def faults(self) -> dict[str, str]:
        with self._lock:
            return dict(self._faults)
