"""The last session as telemetry's flags describe it, kept across restarts.

``last-session:<ending>`` when it did not complete, ``last-session:<finding>`` for each quality
check it failed (docs/mqtt.md, telemetry ``flags``). They describe the last session until the
next one ends; they are kept in ``state/fleet/last-session.json`` so that a restart does not
clear them.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from firmware.protocol.mqtt.vocabulary import FINDINGS, SESSION_ENDINGS
from firmware.unit.fleet.state_files import read_json, write_json

FILE = "last-session.json"


class LastSession:
    def __init__(self, fleet_dir: Path, on_error: Callable[[Exception], None]) -> None:
        self.path = Path(fleet_dir) / FILE
        self._on_error = on_error
        self._lock = threading.Lock()
        raw = read_json(self.path, {}, on_error)
        self._data: dict[str, Any] = raw if isinstance(raw, dict) else {}

    def ended(self, data: dict[str, Any]) -> None:
        """A ``session_ended`` event's data: this is now the last session."""
        kept = {"session_id": data.get("session_id"), "ending": data.get("ending"),
                "findings": list(data.get("findings") or [])}
        with self._lock:
            self._data = kept
            try:
                write_json(self.path, kept)
            except Exception as exc:  # flags are kept in memory; the disk said no
                self._on_error(exc)

    def flags(self) -> list[str]:
        with self._lock:
            data = dict(self._data)
        out = []
        ending = data.get("ending")
        if ending in SESSION_ENDINGS and ending != "completed":
            out.append(f"last-session:{ending}")
        out += [f"last-session:{f}" for f in data.get("findings") or [] if f in FINDINGS]
        return sorted(set(out))
