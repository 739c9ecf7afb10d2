"""Configuration from the fleet: desired (sent by operators) and reported (what the unit runs).

Operators keep one **operational layer** on each unit: ``{section: {key: value}}`` of
``operational`` settings (:mod:`firmware.config.model` tiers) with a version. A ``set-config``
(or a retained ``config/desired``) is, by default, a JSON merge patch (RFC 7386) over it: the
keys it names are set, a key or section given as ``null`` is removed (the setting goes back to
the signed bundle's or the unit's own value), the rest stays. ``mode: "replace"`` gives the
whole layer instead (``{}`` clears it). The result is accepted only if its version is above
the accepted one (the same version with the same result is a no-op), it holds nothing but
operational settings, and :func:`firmware.config.loading.parse_config` accepts it; then the
daemon takes it (``apply_config``), changes at once what can change at once and keeps the rest
for its next start. A configuration bundle (``apply-config-bundle``) goes to the daemon's
``apply_config_bundle``, which checks its signature, scope and serial; a bundle is always the
whole signed configuration.

A rejection always says why, and shows in ``config/reported`` (``last_rejection``) — also for a
retained ``config/desired`` that cannot be read, which nobody else would hear of. The accepted
layer is kept in ``state/fleet/config.json``.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

from firmware.config.loading import parse_config
from firmware.config.model import OPERATIONAL, tier_problems
from firmware.errors import ConfigError
from firmware.protocol.mqtt.errors import CommandError
from firmware.protocol.mqtt.payloads import VERSION, utc_iso
from firmware.unit.fleet.hooks import DeviceHooks
from firmware.unit.fleet.state_files import read_json, write_json

log = logging.getLogger(__name__)

MODES = ("merge", "replace")
MAX_VERSION = 2**31 - 1


def remote_problems(desired: dict[str, Any]) -> list[str]:
    """What in ``desired`` an operator's set-config may not change (empty when all may):
    every setting that is not operational, named with why."""
    return [f"[{section}] {key}: {why}"
            for section, key, why in tier_problems(desired, (OPERATIONAL,))]


def merge_patch(layer: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 over a ``{section: {key: value}}`` layer: null removes, objects merge, any
    other value replaces. Sections left empty are dropped."""
    out = {section: dict(values) for section, values in layer.items()
           if isinstance(values, dict)}
    for section, values in patch.items():
        if values is None:
            out.pop(section, None)
        elif isinstance(values, dict):
            merged = out.setdefault(section, {})
            for key, value in values.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
        else:
            out[section] = values   # not an object: the model refuses it, naming the section
    return {s: v for s, v in out.items() if v != {}}


class ConfigShadow:
    """The unit's side of desired/reported; the accepted layer survives restarts."""

    def __init__(self, path: Path, on_error: Callable[[Exception], None], *,
                 device_id: str = "") -> None:
        self.path = Path(path)
        self.device_id = device_id
        raw = read_json(self.path, {}, on_error)
        self.reported: dict[str, Any] = {"version": 0, "config": {}, "accepted_ts": None,
                                         "last_rejection": None}
        if isinstance(raw, dict) and isinstance(raw.get("version"), int):
            if "accepted_ts" not in raw and isinstance(raw.get("ts"), str):
                raw["accepted_ts"] = raw["ts"]       # kept by an earlier version as "ts"
            self.reported.update({k: raw[k] for k in self.reported if k in raw})

    @property
    def version(self) -> int:
        return self.reported["version"]

    def _save(self) -> None:
        write_json(self.path, {"v": 1, **self.reported})

    def _reject(self, version: int | None, why: str, kind: str = "set-config") -> CommandError:
        self.reported["last_rejection"] = {"kind": kind, "version": version, "reason": why,
                                           "ts": utc_iso(time.time())}
        self._save()
        log.warning("%s%s rejected: %s", kind, f" version {version}" if version else "", why)
        return CommandError("rejected", why)

    def document(self, hooks: DeviceHooks) -> dict[str, Any]:
        """``config/reported``: what was accepted (``version``, ``config``, ``accepted_ts``),
        the last rejection, and the unit's own account of what is ``effective`` now and what
        is ``pending`` until the next restart (``hooks.config_status()``)."""
        status = hooks.config_status()
        return {"v": VERSION, "device": self.device_id, "ts": utc_iso(time.time()),
                **self.reported, "effective": status["effective"],
                "accepted": status["accepted"], "pending": status["pending"],
                "pending_keys": list(status.get("pending_keys", [])),
                "applies": status["applies"], "refused": list(status["refused"])}

    def apply(self, desired: dict[str, Any], version: int, hooks: DeviceHooks, *,
              mode: str = "merge", kind: str = "set-config") -> dict[str, Any]:
        """Merge (or replace), validate and hand to the unit; the result for the response,
        or CommandError ``rejected`` naming each refused key and why."""
        if mode not in MODES:
            raise self._reject(version, f"mode {mode!r} must be merge or replace", kind)
        layer = merge_patch(self.reported["config"] if mode == "merge" else {}, desired)
        if version < self.version:
            raise self._reject(version, f"version {version} is older than the accepted "
                               f"version {self.version}", kind)
        if version == self.version:
            if layer == self.reported["config"]:
                return {"version": version, "changed": False, "config": layer,
                        "applied_now": [], "at_restart": [], "note": "already accepted"}
            raise self._reject(version, f"version {version} was accepted already with other "
                               "values; send a higher version", kind)
        problems = remote_problems(layer)
        for part in (_without_nulls(desired), layer):   # the patch names nothing unknown
            try:
                parse_config(part, source="desired configuration")
            except ConfigError as exc:
                if str(exc) not in problems:
                    problems.append(str(exc))
        if problems:
            raise self._reject(version, "; ".join(problems), kind)
        answer = hooks.apply_config(layer, version)
        if not answer.ok:
            raise self._reject(version, f"the unit refused it: {answer.note or 'no reason'}",
                               kind)
        self.reported.update({"version": version, "config": layer,
                              "accepted_ts": utc_iso(time.time()), "last_rejection": None})
        self._save()
        return {"version": version, "changed": True, "config": layer,
                "applied_now": list(answer.applied_now), "at_restart": list(answer.at_restart),
                "note": answer.note}

    def apply_retained(self, payload: bytes, hooks: DeviceHooks) -> None:
        """A retained ``config/desired``, handled like set-config when its version is above
        the accepted one (at each connection the broker sends it again: an equal or older
        version is what the unit has, or older, and is left alone). One that cannot be read is
        rejected with the reason. An empty payload (the retained message cleared) is not a
        configuration: nothing changes."""
        if not payload:
            return
        try:
            raw = json.loads(payload.decode("utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            version, desired = raw.get("version"), raw.get("desired")
            if isinstance(version, bool) or not isinstance(version, int) \
                    or not 1 <= version <= MAX_VERSION:
                raise ValueError(f"\"version\" must be an integer 1..{MAX_VERSION}")
            if not isinstance(desired, dict):
                raise ValueError("\"desired\" must be an object {section: {key: value}}")
            if raw.get("v") != 1 or isinstance(raw.get("v"), bool):
                raise ValueError("\"v\" must be 1")
            mode = raw.get("mode", "merge")
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            # recorded in last_rejection and logged; there is no one to answer
            self._reject(_version_of(payload), f"config/desired is not {{v: 1, version, "
                         f"desired}}: {exc}", "config/desired")
            return
        if version < self.version or version == self.version and merge_patch(
                self.reported["config"] if mode == "merge" else {}, desired) \
                == self.reported["config"]:
            log.info("config/desired version %d: the unit has version %d; left alone", version,
                     self.version)
            return
        try:
            self.apply(desired, version, hooks, mode=mode, kind="config/desired")
        except CommandError:
            pass    # a rejection: in last_rejection and the log (no one to answer)

    def apply_bundle(self, bundle: dict[str, Any] | str, hooks: DeviceHooks) -> dict[str, Any]:
        """Hand a signed configuration bundle (the envelope, as an object or its JSON text) to
        the unit; the result for the response, or CommandError ``rejected`` saying why."""
        raw = (bundle if isinstance(bundle, str) else json.dumps(bundle, ensure_ascii=False))
        ok, note = hooks.apply_config_bundle(raw.encode("utf-8"))
        if not ok:
            raise self._reject(None, note or "the unit refused the bundle", "bundle")
        self.reported["last_rejection"] = None
        self._save()
        return {"accepted": True, "note": note,
                "bundle_serial": hooks.config_status().get("accepted", {}).get("bundle_serial")}


def _without_nulls(patch: dict[str, Any]) -> dict[str, Any]:
    """What a patch sets (its removals left out), to check it names only known settings."""
    return {section: ({k: v for k, v in values.items() if v is not None}
                      if isinstance(values, dict) else values)
            for section, values in patch.items() if values is not None}


def _version_of(payload: bytes) -> int | None:
    try:
        version = json.loads(payload.decode("utf-8")).get("version")
    except (UnicodeDecodeError, ValueError, RecursionError, AttributeError):
        return None
    return version if isinstance(version, int) and not isinstance(version, bool) \
        and 1 <= version <= MAX_VERSION else None
