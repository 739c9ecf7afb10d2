"""Restart and reboot commands as the agent runs them: deferred while recording, noted before
they run.

A command that would interrupt a recording waits (``defer``) until the session ends, unless
forced; a pending reboot covers a pending restart. Just before one runs, a note goes to
``state/fleet/lifecycle.json`` (durably): at the next start the boot event reads it to say the
previous run ended for that command (:func:`take_note`), and while it runs :attr:`current` lets
a session ended by it say so (``ending: restart``).
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from firmware.unit.fleet.hooks import DeviceHooks
from firmware.unit.fleet.state_files import read_json, write_json

NOTE_FILE = "lifecycle.json"
ACTIONS = ("restart", "reboot")


class Lifecycle:
    """``event(kind, data)`` queues a fleet event; ``report(exc)`` tells the agent's owner."""

    def __init__(self, hooks: DeviceHooks, fleet_dir: Path, *,
                 event: Callable[[str, dict[str, Any]], None],
                 report: Callable[[Exception], None]) -> None:
        self.hooks = hooks
        self.note_path = Path(fleet_dir) / NOTE_FILE
        self._event = event
        self._report = report
        self._lock = threading.Lock()
        self._pending: tuple[str, str] | None = None
        self._current: tuple[str, str, bool] | None = None

    @property
    def pending(self) -> str | None:
        """The deferred action waiting for the session to end, if any."""
        with self._lock:
            return self._pending[0] if self._pending else None

    @property
    def current(self) -> tuple[str, str, bool] | None:
        """``(action, command id, force)`` of the restart or reboot running now."""
        with self._lock:
            return self._current

    def defer(self, action: str, cmd_id: str) -> None:
        with self._lock:
            if self._pending is None or action == "reboot":  # a reboot covers a restart
                self._pending = (action, cmd_id)

    def run_due(self) -> None:
        """Run a deferred command once the unit no longer records (the agent's ticker)."""
        with self._lock:
            if self._pending is None or self._current is not None:
                return
        if self.hooks.is_recording():
            return
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return
        action, cmd_id = pending
        try:
            self._event(action, {"command_id": cmd_id, "deferred": True, "force": False})
        except Exception as exc:       # the command was accepted: it runs even so
            self._report(exc)
        self.begin(action, cmd_id, False)

    def begin(self, action: str, cmd_id: str, force: bool) -> None:
        """Note it, then run it through the hooks. A hook that fails leaves no note."""
        if action not in ACTIONS:
            raise ValueError(f"action {action!r} is not one of {', '.join(ACTIONS)}")
        write_json(self.note_path, {"v": 1, "action": action, "command_id": cmd_id,
                                    "force": force, "noted_at": time.time()})
        with self._lock:
            self._current = (action, cmd_id, force)
            self._pending = None        # this one stops the daemon: it covers a pending one
        try:
            (self.hooks.reboot if action == "reboot" else self.hooks.restart)(force)
        except BaseException:
            with self._lock:
                self._current = None
            _remove(self.note_path)
            raise


def take_note(fleet_dir: Path, on_error: Callable[[Exception], None]) -> dict[str, Any] | None:
    """The note a restart or reboot left for this start (``action``, ``command_id``,
    ``force``), removed once read; None when there is none."""
    path = Path(fleet_dir) / NOTE_FILE
    note = read_json(path, None, on_error)
    _remove(path)
    if not isinstance(note, dict) or note.get("action") not in ACTIONS \
            or not isinstance(note.get("command_id"), str):
        return None
    return note


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
