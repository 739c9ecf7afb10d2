"""The operators' settings as the running unit takes them: kept for the next start, and the
ones that can change at once changed at once.

Which can (:data:`~firmware.protocol.mqtt.vocabulary.LIVE_SETTINGS`): the telemetry interval,
the reconnect backoff and the log level — they touch nothing but how the unit reports. Every
other operational setting (keepalive, sync timing and rate limit, the self-test interval)
takes effect at the next restart, because the part that uses it reads it when it starts.

``effective`` is what runs now. A set-config whose every change is live becomes effective at
once (its version is then the effective one, nothing is pending); otherwise its live settings
are changed and the rest is ``pending`` (``pending_keys``) until the restart. A live change is
recorded on the evidence chain like any configuration that takes effect (EVENT ``config``).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any, Callable

from firmware.config.loading import replace
from firmware.config.model import OPERATIONAL, Config, tier_of
from firmware.errors import ConfigError
from firmware.protocol.mqtt.vocabulary import LIVE_SETTINGS
from firmware.unit.config_record import config_values
from firmware.unit.fleet.hooks import ConfigAnswer
from firmware.unit.remote_config import APPLIES, RemoteConfig

log = logging.getLogger(__name__)

Applier = Callable[[Config], None]


def _operational_differences(a: Config, b: Config) -> list[str]:
    va, vb = config_values(a), config_values(b)
    return sorted(k for k in va if va[k] != vb.get(k) and tier_of(*k.split(".", 1)) == OPERATIONAL)


def _value(config: Config, name: str) -> Any:
    section, key = name.split(".", 1)
    return getattr(getattr(config, section), key)


class OperationalConfig:
    """``running``: the effective configuration the unit started with. ``appliers``: for each
    live setting, what changes it (called with the new effective configuration). ``record``:
    puts an effective configuration on the chain (when it changed)."""

    def __init__(self, running: Config, *, device_id: str, appliers: dict[str, Applier],
                 record: Callable[[Config], None]) -> None:
        unknown = set(appliers) - set(LIVE_SETTINGS)
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not live settings")
        self._effective = running
        self.device_id = device_id
        self.appliers = appliers
        self.record = record
        self._lock = threading.Lock()

    @property
    def effective(self) -> Config:
        with self._lock:
            return self._effective

    def _remote(self, config: Config) -> RemoteConfig:
        return RemoteConfig.for_unit(config, device_id=self.device_id)

    def accept(self, layer: dict[str, Any], version: int) -> ConfigAnswer:
        """Keep ``layer`` (the whole operational layer) as ``version``; change what is live."""
        with self._lock:
            running = self._effective
            try:
                candidate = self._remote(running).accept_operational(layer, version)
            except ConfigError as exc:
                return ConfigAnswer(False, str(exc))
            changed = _operational_differences(running, candidate)
            live = [k for k in changed if k in self.appliers]
            later = [k for k in changed if k not in live]
            now = running
            if live:
                sections: dict[str, dict[str, Any]] = {}
                for name in live:
                    section, key = name.split(".", 1)
                    sections.setdefault(section, {})[key] = _value(candidate, name)
                now = replace(running, **sections)
            if not later and candidate.origin.bundle_serial == running.origin.bundle_serial:
                now = dataclasses.replace(now, origin=dataclasses.replace(
                    running.origin, operational_version=version))
            for name in live:
                self.appliers[name](now)
            self._effective = now
        if live:
            self.record(now)
            log.info("set-config version %d: %s changed at once", version, ", ".join(live))
        if later:
            note = (f"accepted; {', '.join(later)} take effect {APPLIES}"
                    + (f", {', '.join(live)} changed at once" if live else "")
                    + " (config/reported: pending)")
        elif live:
            note = f"accepted; {', '.join(live)} changed at once"
        else:
            note = "accepted; nothing the unit runs changes"
        return ConfigAnswer(True, note, tuple(live), tuple(later))

    def status(self) -> dict[str, Any]:
        """``config/reported``'s view of the unit: effective, accepted, pending and which
        accepted operational settings wait for the restart."""
        effective = self.effective
        remote = self._remote(effective)
        out = remote.status(effective)
        candidate = remote.compose(remote.layers())
        out["pending_keys"] = _operational_differences(effective, candidate)
        return out
