"""The appliance as the fleet agent sees it: :class:`~firmware.unit.fleet.hooks.DeviceHooks`."""
from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from firmware import __version__
from firmware.errors import ConfigError
from firmware.protocol.mqtt.status import DeviceStatus, TelemetrySnapshot
from firmware.unit.remote_config import APPLIES, RemoteConfig

if TYPE_CHECKING:
    from firmware.unit.appliance import Appliance

log = logging.getLogger(__name__)

THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
HEALTH = {"ok": "ok", "stopped": "ok", "lost": "fault"}
RESTART_EXIT = 75  # the unit's RestartForceExitStatus: systemd starts the daemon again


class ApplianceHooks:
    """``request_stop(exit_code)`` ends the daemon's main loop (restart); ``logs(lines)`` gives
    the recent log lines."""

    def __init__(self, app: "Appliance", *, request_stop: Callable[[int], None],
                 logs: Callable[[int], str]) -> None:
        self.app = app
        self._request_stop = request_stop
        self._logs = logs

    def current_state(self) -> DeviceStatus:
        flow = self.app.flow
        if flow.state == "recording" and flow.active is not None:
            return DeviceStatus("recording", f"session {flow.active.session_id}")
        if flow.state in ("fault", "selftest_failed"):
            failed = self.app.selftest.last.failed if self.app.selftest.last else []
            return DeviceStatus("fault", flow.state + (f": {', '.join(failed)}" if failed else ""))
        blocked = self.app.recording_blocked()
        if blocked:
            return DeviceStatus("fault", f"{blocked[0]}: recording refused")
        return DeviceStatus("idle")

    def telemetry(self) -> TelemetrySnapshot:
        app = self.app
        disk = shutil.disk_usage(app.config.spool.path)
        backlog = app.uploader.backlog() if app.uploader else None
        sync = app.clock.sync_state()
        head = app.evidence.ledger.head
        health = app.recorder.health()
        flags = []
        last = app.flow.last_summary
        if last and last.get("verdict") == "review":
            flags += [f"last-session:{f}" for f in last.get("findings", [])][:5]
        return TelemetrySnapshot(
            disk_free_bytes=disk.free, disk_total_bytes=disk.total,
            backlog_count=backlog.items if backlog else 0,
            backlog_bytes=backlog.bytes if backlog else 0,
            backlog_oldest_age_s=backlog.oldest_age_s if backlog else None,
            cpu_temp_c=_cpu_temp(), clock_synced=sync.synced,
            clock_offset_ms=sync.est_error_us / 1000 if sync.est_error_us >= 0 else None,
            firmware=__version__, chain_seq=head.seq if head else 0,
            chain_hash=head.hash if head else "",
            camera=HEALTH.get(health.get("camera", ""), "unknown"),
            microphone=HEALTH.get(health.get("microphone", ""), "unknown"),
            pad=HEALTH.get(health.get("sigpad", ""), "missing"), flags=tuple(flags))

    def is_recording(self) -> bool:
        return self.app.recorder.recording

    def locate(self, seconds: float) -> None:
        self.app.hardware.panel.locate(seconds)

    def sync_now(self) -> dict[str, Any]:
        if self.app.uploader is None:
            return {"sync": "disabled"}
        self.app.uploader.wake()
        return {"sync": "started", **self.app.uploader.backlog().as_dict()}

    def verify(self) -> dict[str, Any]:
        from firmware.evidence.verify import verify_path
        report = json.loads(verify_path(self.app.config.spool.path).to_json())
        report.pop("path", None)
        return report

    def _remote(self) -> RemoteConfig:
        return RemoteConfig.for_unit(self.app.config, device_id=self.app.evidence.device_id)

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
        now = dt.datetime.fromtimestamp(self.app.clock.realtime_ns() / 1e9, dt.timezone.utc)
        try:
            accepted = self._remote().accept_bundle(bundle, now=now, running=self.app.config)
        except ConfigError as exc:
            return False, str(exc)
        log.warning("configuration bundle serial %d accepted over MQTT; it takes effect %s",
                    accepted.serial, APPLIES)
        return True, f"bundle serial {accepted.serial} accepted; takes effect {APPLIES}"

    def config_status(self) -> dict[str, Any]:
        return self._remote().status(self.app.config)

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
