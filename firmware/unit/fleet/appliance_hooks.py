"""The unit as the fleet agent sees it: :class:`~firmware.unit.fleet.hooks.DeviceHooks` over
the unit's read-only view (:class:`~firmware.unit.unit_view.UnitView`), its uplinks and a few
actions given in; nothing here reaches into the flow, the recorder or the evidence."""
from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
from pathlib import Path
from typing import Any, Callable

from drivers.clock import Clock
from firmware import __version__
from firmware.config.model import Config
from firmware.errors import ConfigError
from firmware.protocol.mqtt.status import DeviceStatus, TelemetrySnapshot
from firmware.unit.remote_config import APPLIES, RemoteConfig
from firmware.unit.unit_view import UnitView
from firmware.unit.uplinks import Uplinks

log = logging.getLogger(__name__)

THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
HEALTH = {"ok": "ok", "stopped": "ok", "lost": "fault"}
RESTART_EXIT = 75  # the unit's RestartForceExitStatus: systemd starts the daemon again


class ApplianceHooks:
    """``locate(seconds)`` blinks the unit's LEDs; ``request_stop(exit_code)`` ends the
    daemon's main loop (restart); ``logs(lines)`` gives the recent log lines."""

    def __init__(self, view: UnitView, uplinks: Uplinks, *, config: Config, clock: Clock,
                 locate: Callable[[float], None], request_stop: Callable[[int], None],
                 logs: Callable[[int], str], simulated: bool = False) -> None:
        self._view = view
        self._uplinks = uplinks
        self._config = config
        self._clock = clock
        self._locate = locate
        self._request_stop = request_stop
        self._logs = logs
        self._simulated = simulated

    def current_state(self) -> DeviceStatus:
        state = self._view.state()
        return DeviceStatus(state.state, state.detail)

    def telemetry(self) -> TelemetrySnapshot:
        view = self._view
        disk = view.disk()
        backlog = self._uplinks.backlog()
        sync = self._clock.sync_state()
        seq, digest = view.chain_head()
        health = view.device_health()
        flags = []
        last = view.flow.last_summary
        if last and last.get("verdict") == "review":
            flags += [f"last-session:{f}" for f in last.get("findings", [])][:5]
        return TelemetrySnapshot(
            disk_free_bytes=disk.free, disk_total_bytes=disk.total,
            backlog_count=backlog.items if backlog else 0,
            backlog_bytes=backlog.bytes if backlog else 0,
            backlog_oldest_age_s=backlog.oldest_age_s if backlog else None,
            cpu_temp_c=_cpu_temp(), clock_synced=sync.synced,
            clock_offset_ms=sync.est_error_us / 1000 if sync.est_error_us >= 0 else None,
            firmware=__version__, chain_seq=seq, chain_hash=digest,
            camera=HEALTH.get(health.get("camera", ""), "unknown"),
            microphone=HEALTH.get(health.get("microphone", ""), "unknown"),
            pad=HEALTH.get(health.get("sigpad", ""), "missing"), flags=tuple(flags))

    def is_recording(self) -> bool:
        return self._view.recording

    def locate(self, seconds: float) -> None:
        self._locate(seconds)

    def sync_now(self) -> dict[str, Any]:
        return self._uplinks.sync_now()

    def verify(self) -> dict[str, Any]:
        from firmware.evidence.verify import verify_path
        report = json.loads(verify_path(self._config.spool.path).to_json())
        report.pop("path", None)
        return report

    def _remote(self) -> RemoteConfig:
        return RemoteConfig.for_unit(self._config, device_id=self._view.device_id)

    def apply_config(self, desired: dict[str, Any], version: int) -> tuple[bool, str]:
        """Kept in ``state/desired-config.json`` (operational settings only); it takes effect
        at the next start."""
        try:
            self._remote().accept_operational(desired, version)
        except ConfigError as exc:
            return False, str(exc)
        return True, f"accepted; takes effect {APPLIES} (config/reported: pending)"

    def apply_config_bundle(self, bundle: bytes) -> tuple[bool, str]:
        """Checked and kept in ``state/config-bundle.json``; it takes effect at the next
        start."""
        now = dt.datetime.fromtimestamp(self._clock.realtime_ns() / 1e9, dt.timezone.utc)
        try:
            accepted = self._remote().accept_bundle(bundle, now=now, running=self._config)
        except ConfigError as exc:
            return False, str(exc)
        log.warning("configuration bundle serial %d accepted over MQTT; it takes effect %s",
                    accepted.serial, APPLIES)
        return True, f"bundle serial {accepted.serial} accepted; takes effect {APPLIES}"

    def config_status(self) -> dict[str, Any]:
        return self._remote().status(self._config)

    def restart(self, force: bool) -> None:
        log.warning("restart requested over MQTT (force=%s)", force)
        self._request_stop(RESTART_EXIT)

    def reboot(self, force: bool) -> None:
        log.warning("reboot requested over MQTT (force=%s)", force)
        subprocess.run(["systemctl", "reboot"], check=True, timeout=30)

    def fetch_logs(self, lines: int) -> str:
        return self._logs(lines)


def _cpu_temp() -> float | None:
    try:
        return int(THERMAL.read_text()) / 1000
    except (OSError, ValueError):
        return None
