"""Configuration from the fleet: desired (sent by operators) and reported (what the unit runs).

A desired configuration is a set of ``[section] key = value`` changes with a ``version``. It is
applied only if its version is newer than the applied one, it touches nothing that must never
be changed remotely (the unit's identity, key, spool and broker credentials), and
:func:`firmware.config.parse_config` accepts it; then the daemon's ``apply_config`` decides.
A rejection always says why. The reported document is kept in ``state/fleet/config.json``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from firmware.config import parse_config
from firmware.errors import ConfigError
from firmware.fleet.errors import CommandError
from firmware.fleet.hooks import DeviceHooks
from firmware.fleet.payloads import utc_iso
from firmware.fleet.state_files import read_json, write_json

# None: the whole section; a set: those keys
REMOTE_FORBIDDEN: dict[str, set[str] | None] = {
    "device": None,
    "spool": {"path"},
    "mqtt": {"url", "client_cert", "client_key", "ca_file"},
}


def remote_problems(desired: dict[str, Any]) -> list[str]:
    """What in ``desired`` may not be changed over MQTT (empty when all may)."""
    problems = []
    for section, values in desired.items():
        if section not in REMOTE_FORBIDDEN:
            continue
        keys = REMOTE_FORBIDDEN[section]
        if keys is None:
            problems.append(f"[{section}] cannot be changed remotely")
        elif isinstance(values, dict):
            problems += [f"[{section}] {k} cannot be changed remotely" for k in sorted(values)
                         if k in keys]
    return problems


class ConfigShadow:
    """The unit's side of desired/reported; the reported document survives restarts."""

    def __init__(self, path: Path, on_error: Callable[[Exception], None]) -> None:
        self.path = Path(path)
        raw = read_json(self.path, {}, on_error)
        self.reported: dict[str, Any] = {"v": 1, "version": 0, "config": {}, "ts": None,
                                         "last_rejection": None}
        if isinstance(raw, dict) and isinstance(raw.get("version"), int):
            self.reported.update({k: raw[k] for k in self.reported if k in raw})

    @property
    def version(self) -> int:
        return self.reported["version"]

    def _reject(self, version: int, why: str) -> CommandError:
        self.reported["last_rejection"] = {"version": version, "reason": why,
                                           "ts": utc_iso(time.time())}
        write_json(self.path, self.reported)
        return CommandError("rejected", why)

    def apply(self, desired: dict[str, Any], version: int, hooks: DeviceHooks) -> dict[str, Any]:
        """Validate and apply; the result for the response, or CommandError ``rejected``."""
        if version < self.version:
            raise self._reject(version, f"version {version} is older than the applied "
                               f"version {self.version}")
        if version == self.version:
            if desired == self.reported["config"]:
                return {"version": version, "changed": False, "note": "already applied"}
            raise self._reject(version, f"version {version} was applied already with other "
                               "values; send a higher version")
        problems = remote_problems(desired)
        if problems:
            raise self._reject(version, "; ".join(problems))
        try:
            parse_config(desired, source="desired configuration")
        except ConfigError as exc:
            raise self._reject(version, str(exc)) from None
        ok, note = hooks.apply_config(desired, version)
        if not ok:
            raise self._reject(version, f"the unit refused it: {note or 'no reason given'}")
        self.reported.update({"version": version, "config": desired, "ts": utc_iso(time.time()),
                              "last_rejection": None})
        write_json(self.path, self.reported)
        return {"version": version, "changed": True, "note": note}
