"""The unit's connections outward: the evidence uploader (S3) and the fleet agent (MQTT).

Starting them, feeding them, and keeping their health: a failure of either is not only logged,
it shows in ``dualrec status`` (``uplinks``), in the fleet's state, telemetry and a ``fault``
event, on the STATUS LED, and in the watchdog's idea of health.

What the fleet hears comes from the evidence chain as it becomes durable (:meth:`on_record`:
session starts and ends with why they ended, device faults, self-tests, refusals; see
:mod:`firmware.unit.fleet.chain_events`), plus a ``boot`` event when the agent starts (how the
previous run ended: :mod:`firmware.unit.fleet.boot_report`) and a ``fault`` when the flow
fails. The contract is docs/asyncapi/dualrec-mqtt-v1.yaml.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from firmware import __version__
from firmware.config.model import Config
from firmware.evidence.records import Record
from firmware.evidence.spool import Spool
from firmware.evidence.store import Evidence
from firmware.unit.fleet.boot_report import boot_data, recovered_session_ends
from firmware.unit.fleet.chain_backlog import ChainBacklog
from firmware.unit.fleet.chain_events import ChainEvents, interrupted
from firmware.unit.fleet.last_session import LastSession
from firmware.unit.status_light import StatusLight

if TYPE_CHECKING:
    from firmware.unit.meet.bus import PahoMeetingBus

log = logging.getLogger(__name__)

#: Chain EVENT kinds the fleet hears about as they happen (as events of the same kind, or as
#: ``fault``); their data hold no personal information, and the agent checks that again.
FLEET_EVENTS = ("selftest", "record_refused", "device_lost", "badge_refused", "disk_low")
UPLINK_PARTS = ("sync",)   # the agent's own failures show in its state, not in an event


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
        self._meeting_bus: PahoMeetingBus | None = None
        self._bus_lock = threading.Lock()
        spool = Spool(config.spool.path)
        head = evidence.head
        self._events = ChainEvents()
        self._last_session = LastSession(spool.state_dir / "fleet", self._disk_trouble)
        self._chain_backlog = ChainBacklog(spool.root, head.seq if head else 0)

    @staticmethod
    def _disk_trouble(exc: Exception) -> None:
        log.error("fleet state: %s", exc)

    # -- health ---------------------------------------------------------------------------------
    def failed(self, part: str, exc: BaseException) -> None:
        """An uplink's worker reports it can no longer work (the fleet hears it once per
        distinct failure)."""
        why = f"{type(exc).__name__}: {exc}"
        log.error("uplink %s failed: %s", part, why)
        with self._lock:
            new = self._failures.get(part) != why
            self._failures[part] = why
        self._light.set_fault(f"uplink:{part}", why)
        agent = self.agent
        if new and part in UPLINK_PARTS and agent is not None:
            try:
                agent.event("fault", {"part": part, "reason": "uplink_failed",
                                      "message": why[:500], "session_id": None, "seq": None})
            except Exception:  # noqa: BLE001 - the failure itself is logged and shown above
                log.exception("the fleet could not be told that %s failed", part)

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

    def start_fleet(self, hooks: Any, *, simulated: bool = False) -> None:
        """Connect to the fleet broker if one is configured (``[mqtt] url`` or the
        environment's DUALREC_MQTT_URL), then say how this run started (``boot``).
        ``hooks``: the unit as the agent sees it."""
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
        self._announce_boot(settings.fleet_dir, simulated)

    def _announce_boot(self, fleet_dir, simulated: bool) -> None:
        from firmware.unit.fleet.lifecycle import take_note
        recovery = self._evidence.recovery
        note = take_note(fleet_dir, self._disk_trouble)
        data = boot_data(recovery, note, firmware=__version__, simulated=simulated,
                         origin=self._config.origin)
        self._tell("boot", data)
        closed = list(recovery.closed_sessions) if recovery else []
        ends = recovered_session_ends(self._config.spool.path, closed)
        for sid in closed:
            ended = interrupted(sid, ends.get(sid, 1))
            self._last_session.ended(ended)
            self._tell("session_ended", ended)

    def meeting_bus(self) -> "PahoMeetingBus | None":
        """The remote meeting's MQTT bus, on the fleet agent's own connection (the broker forces
        a unit's client id to its certificate's name: a second connection would take the
        agent's place); subscribed again at each reconnection. None while the unit has no fleet
        agent (no broker configured, or :meth:`start_fleet` not run yet) or ``[meet]`` is off:
        :mod:`firmware.unit.meet` is imported only when a meeting is asked for. One bus per
        agent; a handler's failure is logged by the bus and ends no connection."""
        agent = self.agent
        if agent is None or not self._config.meet.enabled:
            return None
        with self._bus_lock:
            if self._meeting_bus is None:
                from firmware.unit.meet.bus import PahoMeetingBus
                client = agent.share_connection(self._meeting_reconnected)
                self._meeting_bus = PahoMeetingBus(client)
            return self._meeting_bus

    def _meeting_reconnected(self) -> None:
        """The agent's (re)connection (paho's thread): the meeting's topics subscribed again."""
        bus = self._meeting_bus
        if bus is not None:
            bus.resubscribe()

    # -- feeding --------------------------------------------------------------------------------
    def _tell(self, kind: str, data: dict[str, Any]) -> None:
        agent = self.agent
        if agent is None:
            return
        try:
            agent.event(kind, data)
        except Exception as exc:  # noqa: BLE001 - a refused payload or a full disk: logged;
            # the chain keeps the record, and a unit must not restart over a lost event
            log.error("fleet event %s not queued: %s", kind, exc)

    def on_record(self, record: Record) -> None:
        """Each record once it is durable: checkpoints are witnessed, the backlog counted, and
        what it means told to the fleet."""
        self._chain_backlog.on_record(record)
        agent = self.agent
        stopping = agent.lifecycle.current if agent is not None else None
        for kind, data in self._events.events_for(record, stopping):
            if kind == "session_ended":
                self._last_session.ended(data)
            self._tell(kind, data)
        if agent is not None:
            agent.on_record(record)

    def session_ended(self, summary: dict) -> None:
        """A session's summary (the fleet heard of it from its SESSION_END already)."""
        if self.uploader is not None:
            self.uploader.wake()

    def state_changed(self, state: str) -> None:
        if self.agent is not None:
            self.agent.notify_state()
            if state == "fault":
                self._tell("fault", {"part": "session", "reason": "flow_fault",
                                     "message": "the session flow failed; fetch-logs has why",
                                     "session_id": None, "seq": None})

    def sync_now(self) -> dict[str, Any]:
        if self.uploader is None:
            return {"sync": "disabled", "backlog": None}
        self.uploader.wake()
        b = self.uploader.backlog()
        return {"sync": "started", "backlog": {"count": b.items, "bytes": b.bytes,
                                               "oldest_age_s": b.oldest_age_s, "sync": "on"}}

    def backlog(self):
        return self.uploader.backlog() if self.uploader is not None else None

    def fleet_backlog(self):
        """``(Backlog, "on" | "off")``: evidence not yet confirmed in the cloud; with sync off,
        everything sealed on the chain and not pruned."""
        if self.uploader is not None:
            return self.uploader.backlog(), "on"
        return self._chain_backlog.backlog(), "off"

    def last_session_flags(self) -> list[str]:
        return self._last_session.flags()

    def close(self) -> None:
        for name in ("agent", "uploader"):
            part = getattr(self, name)
            if part is not None:
                try:
                    part.close()
                except Exception:  # noqa: BLE001 - one failing to close must not keep the other
                    log.exception("closing %s", name)
