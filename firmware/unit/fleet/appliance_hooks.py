"""The unit as the fleet agent sees it: :class:`~firmware.unit.fleet.hooks.DeviceHooks` over
the unit's read-only view (:class:`~firmware.unit.unit_view.UnitView`), its uplinks and a few
actions given in; nothing here reaches into the flow, the recorder or the evidence.

Restart and reboot (docs/mqtt.md, commands): a restart ends the daemon with exit status 75,
which systemd answers by starting it again; without a service manager nothing would, so it is
refused. A reboot asks systemd (``systemctl reboot``); it is refused without systemd and on
simulated hardware, where it would reboot the developer's computer rather than a unit.
"""
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
from firmware.protocol.mqtt.errors import FleetError
from firmware.protocol.mqtt.status import DeviceStatus, TelemetrySnapshot
from firmware.protocol.mqtt.vocabulary import LIVE_SETTINGS
from firmware.unit.fleet.hooks import (Availability, ConfigAnswer, LogExcerpt,
                                       UnitAbilities)
from firmware.unit.fleet.journal_logs import JournalLogs
from firmware.unit.fleet.operational_config import OperationalConfig
from firmware.unit.remote_config import APPLIES, RemoteConfig
from firmware.unit.session.binding import Binding
from firmware.unit.unit_view import UnitView
from firmware.unit.uplinks import Uplinks

log = logging.getLogger(__name__)

THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
HEALTH = {"ok": "ok", "stopped": "ok", "lost": "fault"}
RESTART_EXIT = 75  # the unit's RestartForceExitStatus: systemd starts the daemon again


class ApplianceHooks:
    """``locate(seconds)`` blinks the unit's LEDs; ``request_stop(exit_code)`` ends the
    daemon's main loop (restart); ``logs``: the service's log lines, this run's and the one
    before (a plain ``logs(lines)`` callable: this process's lines only); ``supervised``: a
    service manager starts the daemon again after it exits; ``record_config`` puts an
    effective configuration on the chain (without it nothing changes at once: every
    configuration that takes effect is on the chain); ``reboot_command`` asks the system to
    reboot; ``bind_ticket(text)`` binds the next session to a ticket's QR text through the same
    gate as ``dualrec bind --ticket`` (the binding, or :class:`ValueError` with the reason;
    without it the back office's ``bind`` is refused)."""

    def __init__(self, view: UnitView, uplinks: Uplinks, *, config: Config, clock: Clock,
                 locate: Callable[[float], None], request_stop: Callable[[int], None],
                 logs: JournalLogs | Callable[[int], str],
                 record_config: Callable[[Config], None] | None = None,
                 simulated: bool = False, supervised: bool = False,
                 reboot_command: tuple[str, ...] = ("systemctl", "reboot"),
                 bind_ticket: Callable[[str], Binding] | None = None) -> None:
        self._view = view
        self._uplinks = uplinks
        self._config = config
        self._clock = clock
        self._locate = locate
        self._request_stop = request_stop
        self._logs = logs if isinstance(logs, JournalLogs) else JournalLogs(logs, journal=False)
        self._simulated = simulated
        self._supervised = supervised
        self._reboot_command = reboot_command
        self._bind_ticket = bind_ticket
        appliers = {"logging.level": _set_log_level,
                    "mqtt.telemetry_interval_s": self._set_telemetry_interval,
                    "mqtt.reconnect_min_s": self._set_reconnect,
                    "mqtt.reconnect_max_s": self._set_reconnect}
        self.operational = OperationalConfig(
            config, device_id=view.device_id, record=record_config or (lambda _config: None),
            appliers=appliers if record_config is not None else {})

    def current_state(self) -> DeviceStatus:
        state = self._view.state()
        return DeviceStatus(state.state, state.detail)

    def telemetry(self) -> TelemetrySnapshot:
        view = self._view
        disk = view.disk()
        backlog, sync = self._uplinks.fleet_backlog()
        clock = self._clock.sync_state()
        seq, digest = view.chain_head()
        health = view.device_health()
        flags = self._uplinks.last_session_flags()
        if view.damage():
            flags.append("evidence-damage")
        if view.recording_blocked():
            flags.append("recording-blocked")
        return TelemetrySnapshot(
            disk_free_bytes=disk.free, disk_total_bytes=disk.total,
            backlog_count=backlog.items, backlog_bytes=backlog.bytes,
            backlog_oldest_age_s=backlog.oldest_age_s, backlog_sync=sync,
            cpu_temp_c=_cpu_temp(), clock_synced=clock.synced,
            clock_offset_ms=clock.est_error_us / 1000 if clock.est_error_us >= 0 else None,
            firmware=__version__, chain_seq=seq, chain_hash=digest,
            camera=HEALTH.get(health.get("camera", ""), "unknown"),
            microphone=HEALTH.get(health.get("microphone", ""), "unknown"),
            pad=HEALTH.get(health.get("sigpad", ""), "missing"), flags=tuple(flags))

    def is_recording(self) -> bool:
        return self._view.recording

    def abilities(self) -> UnitAbilities:
        if not self._supervised:
            why = ("not running under systemd: nothing would start the daemon again (restart "
                   "it by hand)")
            restart = Availability(False, why)
            reboot = Availability(False, "not running under systemd")
        else:
            restart = Availability(True)
            reboot = Availability(False, "simulated hardware: a reboot would reboot this "
                                  "computer, not a unit (use restart)") if self._simulated \
                else Availability(True)
        return UnitAbilities(firmware=__version__, simulated=self._simulated, restart=restart,
                             reboot=reboot, journal=self._logs.journal,
                             live_settings=LIVE_SETTINGS)

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

    def apply_config(self, desired: dict[str, Any], version: int) -> ConfigAnswer:
        """Kept in ``state/desired-config.json`` (operational settings only); the live ones
        change at once, the rest at the next start."""
        return self.operational.accept(desired, version)

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
        return self.operational.status()

    def restart(self, force: bool) -> None:
        log.warning("restart requested over MQTT (force=%s)", force)
        self._request_stop(RESTART_EXIT)

    def reboot(self, force: bool) -> None:
        if not self.abilities().reboot.available:   # the agent asks first; never on a PC
            raise FleetError(f"reboot refused: {self.abilities().reboot.why}")
        log.warning("reboot requested over MQTT (force=%s)", force)
        subprocess.run(list(self._reboot_command), check=True, timeout=30,
                       capture_output=True)

    def bind_ticket(self, text: str) -> dict[str, Any]:
        """The back office's ``bind``: what the chain records of the ticket, no people."""
        if self._bind_ticket is None:
            raise ValueError("this unit binds no tickets over MQTT (the daemon gave no ticket "
                             "gate): show the ticket's QR at the counter")
        binding = self._bind_ticket(text)
        ticket = binding.ticket or {}
        log.info("ticket %s bound over MQTT", ticket.get("ticket_id"))
        return {"template": binding.template.id, "mode": binding.mode,
                "ticket_id": ticket.get("ticket_id"),
                "application_hash": ticket.get("application_hash")}

    def fetch_logs(self, lines: int, run: str) -> LogExcerpt:
        return self._logs.excerpt(lines, run)

    def _set_telemetry_interval(self, config: Config) -> None:
        if self._uplinks.agent is not None:
            self._uplinks.agent.set_telemetry_interval(config.mqtt.telemetry_interval_s)

    def _set_reconnect(self, config: Config) -> None:
        if self._uplinks.agent is not None:
            self._uplinks.agent.set_reconnect(config.mqtt.reconnect_min_s,
                                              config.mqtt.reconnect_max_s)


def _set_log_level(config: Config) -> None:
    logging.getLogger().setLevel(getattr(logging, config.logging.level.upper()))


def _cpu_temp() -> float | None:
    try:
        return int(THERMAL.read_text()) / 1000
    except (OSError, ValueError):
        return None
