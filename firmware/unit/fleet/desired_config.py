"""Configuration from the fleet: desired (sent by operators) and reported (what the unit runs).

A desired configuration is a set of ``[section] key = value`` changes with a ``version``. It is
accepted only if its version is newer than the accepted one, it holds nothing but
``operational`` settings (:mod:`firmware.config.model` tiers: everything that touches evidence
needs a configuration bundle signed by the back office, and some settings are never changed
remotely), and :func:`firmware.config.loading.parse_config` accepts it; then the daemon's
``apply_config`` decides. A configuration bundle (``apply-config-bundle``) goes to the daemon's
``apply_config_bundle``, which checks its signature, scope and serial. A rejection always says
why. Accepted changes take effect at the unit's next restart: the reported document says what
is effective and what is pending. It is kept in ``state/fleet/config.json``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from firmware.config.loading import parse_config
from firmware.config.model import OPERATIONAL, tier_problems
from firmware.errors import ConfigError
from firmware.protocol.mqtt.errors import CommandError
from firmware.unit.fleet.hooks import DeviceHooks
from firmware.protocol.mqtt.payloads import utc_iso
from firmware.unit.fleet.state_files import read_json, write_json


def remote_problems(desired: dict[str, Any]) -> list[str]:
    """What in ``desired`` an operator's set-config may not change (empty when all may):
    every setting that is not operational, named with why."""
    return [f"[{section}] {key}: {why}"
            for section, key, why in tier_problems(desired, (OPERATIONAL,))]


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

    def _reject(self, version: int | None, why: str, kind: str = "set-config") -> CommandError:
        self.reported["last_rejection"] = {"kind": kind, "version": version, "reason": why,
                                           "ts": utc_iso(time.time())}
        write_json(self.path, self.reported)
        return CommandError("rejected", why)

    def document(self, hooks: DeviceHooks) -> dict[str, Any]:
        """The reported document: what was accepted (``version``, ``config``), the last
        rejection, and the unit's own account of what is ``effective`` and what is
        ``pending`` until the next restart (``hooks.config_status()``)."""
        return {**self.reported, **hooks.config_status()}

    def apply(self, desired: dict[str, Any], version: int, hooks: DeviceHooks) -> dict[str, Any]:
        """Validate and hand to the unit, which keeps it for its next start; the result for the
        response, or CommandError ``rejected`` naming each refused key and why."""
        if version < self.version:
            raise self._reject(version, f"version {version} is older than the accepted "
                               f"version {self.version}")
        if version == self.version:
            if desired == self.reported["config"]:
                return {"version": version, "changed": False, "note": "already accepted"}
            raise self._reject(version, f"version {version} was accepted already with other "
                               "values; send a higher version")
        problems = remote_problems(desired)
        try:
            parse_config(desired, source="desired configuration")
        except ConfigError as exc:
            problems.append(str(exc))
        if problems:
            raise self._reject(version, "; ".join(problems))
        ok, note = hooks.apply_config(desired, version)
        if not ok:
            raise self._reject(version, f"the unit refused it: {note or 'no reason given'}")
        self.reported.update({"version": version, "config": desired, "ts": utc_iso(time.time()),
                              "last_rejection": None})
        write_json(self.path, self.reported)
        return {"version": version, "changed": True, "note": note}

    def apply_bundle(self, bundle: dict[str, Any] | str, hooks: DeviceHooks) -> dict[str, Any]:
        """Hand a signed configuration bundle (the envelope, as an object or its JSON text) to
        the unit; the result for the response, or CommandError ``rejected`` saying why."""
        raw = (bundle if isinstance(bundle, str) else json.dumps(bundle, ensure_ascii=False))
        ok, note = hooks.apply_config_bundle(raw.encode("utf-8"))
        if not ok:
            raise self._reject(None, note or "the unit refused the bundle", "bundle")
        self.reported["last_rejection"] = None
        write_json(self.path, self.reported)
        return {"accepted": True, "note": note,
                "bundle_serial": hooks.config_status().get("accepted", {}).get("bundle_serial")}
