"""The unit's connections outward: the evidence uploader (S3) and the fleet agent (MQTT).

Starting them, feeding them (records as they become durable, session ends, state changes),
and keeping their health: a failure of either is not only logged, it shows in
``dualrec status`` (``uplinks``), in the fleet's state and telemetry, on the STATUS LED, and in
the watchdog's idea of health.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from firmware.config.model import Config
from firmware.evidence import records
from firmware.evidence.records import Record
from firmware.evidence.spool import Spool
from firmware.evidence.store import Evidence
from firmware.unit.status_light import StatusLight

log = logging.getLogger(__name__)

#: Chain events the fleet hears about as they happen (their data hold no personal information;
#: the agent checks that again before anything is published).
FLEET_EVENTS = ("selftest", "record_refused", "device_lost", "badge_refused", "disk_low")


class Uplinks:
    def __init__(self, config: Config, evidence: Evidence, clock, light: StatusLight) -> None:
        self._config = config
        self._evidence = evidence
        self._clock = clock
        self._light = light
        self._lock = threading.Lock()
        self._failures: dict[str, str] = {}
        self.uploader = None
        self.agent = None

    # -- health ---------------------------------------------------------------------------------
    def failed(self, part: str, exc: BaseException) -> None:
        """An uplink's worker reports it can no longer work."""
        why = f"{type(exc).__name__}: {exc}"
        log.error("uplink %s failed: %s", part, why)
        with self._lock:
            self._failures[part] = why
        self._light.set_fault(f"uplink:{part}", why)

    def failures(self) -> dict[str, str]:
        with self._lock:
            out = dict(self._failures)
        if self.uploader is not None and self.uploader.failure is not None:
            out.setdefault("sync", str(self.uploader.failure))
        return out

    def health(self) -> dict[str, str]:
        failures = self.failures()
        return {"sync": failures.get("sync", "ok" if self.uploader else "off"),
                "fleet": failures.get("fleet", "ok" if self.agent else "off")}

    def healthy(self) -> bool:
        return not self.failures()

    # -- starting -------------------------------------------------------------------------------
    def start_sync(self) -> None:
        if not self._config.sync.enabled:
            return
        from firmware.unit.sync.settings import SyncSettings
        from firmware.unit.sync.uploader import Uploader
        settings = SyncSettings.from_config(self._config.sync,
                                            min_free_mb=self._config.spool.min_free_mb)
        self.uploader = Uploader(self._config.spool.path, settings, clock=self._clock,
                                 evidence=self._evidence,
                                 on_failure=lambda exc: self.failed("sync", exc))
        self.uploader.start()

    def start_fleet(self, hooks: Any) -> None:
        """Connect to the fleet broker if one is configured (``[mqtt] url`` or the
        environment's DUALREC_MQTT_URL). ``hooks``: the unit as the agent sees it."""
        from firmware.protocol.mqtt.broker import broker_url
        from firmware.unit.fleet import AgentSettings, FleetAgent
        m = self._config.mqtt
        if not broker_url(m.url):
            return
        settings = AgentSettings(
            device_id=self._evidence.device_id,
            state_dir=Spool(self._config.spool.path).state_dir, url=m.url,
            client_cert=m.client_cert, client_key=m.client_key, ca_file=m.ca_file,
            branch=m.branch, keepalive_s=m.keepalive_s,
            telemetry_interval_s=m.telemetry_interval_s, reconnect_min_s=m.reconnect_min_s,
            reconnect_max_s=m.reconnect_max_s)
        self.agent = FleetAgent(settings, hooks, on_error=lambda exc: self.failed("fleet", exc))
        self.agent.start()

    # -- feeding --------------------------------------------------------------------------------
    def on_record(self, record: Record) -> None:
        """Each record once it is durable: checkpoints are witnessed, some events forwarded."""
        agent = self.agent
        if agent is None:
            return
        agent.on_record(record)
        if record.type == records.EVENT and record.data.get("kind") in FLEET_EVENTS:
            data = {k: v for k, v in record.data.items() if k != "kind"}
            agent.event(record.data["kind"], {"seq": record.seq, "session": record.session,
                                              **data})

    def session_ended(self, summary: dict) -> None:
        if self.uploader is not None:
            self.uploader.wake()
        if self.agent is not None:
            self.agent.event("session_ended", summary)

    def state_changed(self, state: str) -> None:
        if self.agent is not None:
            self.agent.notify_state()
            if state in ("fault", "selftest_failed"):
                self.agent.event("fault", {"state": state})

    def sync_now(self) -> dict[str, Any]:
        if self.uploader is None:
            return {"sync": "disabled"}
        self.uploader.wake()
        return {"sync": "started", **self.uploader.backlog().as_dict()}

    def backlog(self):
        return self.uploader.backlog() if self.uploader is not None else None

    def close(self) -> None:
        for name in ("agent", "uploader"):
            part = getattr(self, name)
            if part is not None:
                try:
                    part.close()
                except Exception:  # noqa: BLE001 - one failing to close must not keep the other
                    log.exception("closing %s", name)
