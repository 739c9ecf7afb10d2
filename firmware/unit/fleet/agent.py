"""The unit's fleet agent: state, telemetry, events, checkpoints and commands over MQTT v5.

Wiring (the daemon)::

    agent = FleetAgent(AgentSettings(device_id=..., state_dir=spool / "state", url=...,
                                     client_cert=..., client_key=..., ca_file=..., branch=...),
                       hooks, on_error=report)
    agent.start()                       # returns at once; connects (and reconnects) by itself
    Evidence.open(..., on_record=agent.on_record)   # every CHECKPOINT is published
    agent.event("session_ended", {...})  # kinds and data: the contract (docs/asyncapi/)
    agent.notify_state()                # after recording starts or stops: publish state now
    agent.stop()                        # clean stop: state "offline" (reason "stopped")

Threads: paho's network thread, a ticker (state, telemetry, deferred restarts), the outbox
sender, and two command workers. None of them raises into the caller: failures go to
``on_error`` (and the log); an operator's bad input (a malformed ``config/desired``) is not a
failure of the agent, it is answered in ``config/reported``. Nothing is published that fails
:mod:`firmware.protocol.mqtt.privacy`.

Commands are subscribed with retain handling 2 (a retained command on the broker is never
delivered at subscription) and retain-as-published (a command published with the retain flag
is recognised and refused, never run).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Callable, Mapping

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from firmware import __version__
from firmware.evidence import records
from firmware.protocol.mqtt import payloads, topics, vocabulary
from firmware.unit.fleet.command_runner import QUEUE_LIMIT, CommandRunner, Reply
from firmware.unit.fleet.commands import MAX_COMMAND_BYTES, MAX_LOG_BYTES, SPECS, CommandHandlers
from firmware.protocol.mqtt.connection import certificate_cn, make_client
from firmware.unit.fleet.delivery import AckBook, OutboxSender
from firmware.unit.fleet.desired_config import ConfigShadow
from firmware.protocol.mqtt.errors import FleetError, FleetSettingsError
from firmware.protocol.mqtt.status import DeviceStatus
from firmware.unit.fleet.hooks import DEVICE_HOOK_METHODS, DeviceHooks
from firmware.unit.fleet.lifecycle import Lifecycle
from firmware.unit.fleet.outbox import Outbox
from firmware.protocol.mqtt.privacy import check_payload, check_witness
from firmware.unit.fleet.settings import AgentSettings
from firmware.unit.fleet.state_files import ResponseCache
from firmware.evidence.records import Record

log = logging.getLogger(__name__)

CONTRACT_VERSION = "1.1.0"
"""The version of docs/asyncapi/dualrec-mqtt-v1.yaml this agent keeps (a test checks it)."""


class FleetAgent:
    """One unit's MQTT agent. ``start()`` once, ``stop()`` (alias ``close()``) any number of
    times. ``environ`` replaces ``os.environ`` for ``DUALREC_MQTT_URL`` (tests).

    ``connected`` (an Event) is set while the broker has the unit; ``ready`` once the command
    subscriptions are confirmed too. Both clear on a disconnect.
    """

    def __init__(self, settings: AgentSettings, hooks: DeviceHooks, *,
                 on_error: Callable[[Exception], None] | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        if not isinstance(hooks, DeviceHooks):
            missing = [m for m in DEVICE_HOOK_METHODS if not callable(getattr(hooks, m, None))]
            raise TypeError(f"hooks {type(hooks).__name__} lack the DeviceHooks methods "
                            f"{', '.join(missing)}")
        self.settings = settings
        self.hooks = hooks
        self.device_id = settings.device_id
        self._on_error = on_error
        self.address = settings.address(environ)
        if self.address.tls and settings.client_cert:
            cn = certificate_cn(settings.client_cert)
            if cn != self.device_id:
                raise FleetSettingsError(f"client certificate {settings.client_cert} is for "
                                         f"{cn!r}, not this unit ({self.device_id!r}); the broker "
                                         "would refuse everything it publishes")
        self.outbox = Outbox(settings.outbox_dir)
        self.cache = ResponseCache(settings.fleet_dir / "commands.json", self._report)
        self.shadow = ConfigShadow(settings.fleet_dir / "config.json", self._report,
                                   device_id=self.device_id)
        self.lifecycle = Lifecycle(hooks, settings.fleet_dir, event=self.event,
                                   report=self._report)
        self._interval = settings.telemetry_interval_s
        self.connected = threading.Event()    # the broker accepted the connection
        self.ready = threading.Event()        # ... and the command subscriptions
        self._sub_mid = -1
        self._acks = AckBook()
        self._stopping = threading.Event()
        self._tick = threading.Event()
        self._lock = threading.Lock()
        self._published_state: DeviceStatus | None = None
        self._last_tick_error = ""
        self._next_telemetry = 0.0                     # time.monotonic() of the next telemetry
        self._client: mqtt.Client | None = None
        self._connect_listeners: list[Callable[[], None]] = []
        self._sender: OutboxSender | None = None
        self._runner: CommandRunner | None = None
        self._ticker: threading.Thread | None = None
        self._started = self._closed = False

    # -- owner-facing ------------------------------------------------------------------------
    def _report(self, exc: Exception) -> None:
        log.error("fleet agent: %s", exc)
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                log.exception("fleet agent: the on_error callback failed")

    def start(self) -> None:
        """Connect in the background and start the threads; returns at once."""
        if self._started:
            raise FleetError("the fleet agent was started already; make a new one")
        self._started = True
        s = self.settings
        client = make_client(self.address, client_id=self.device_id, cert=s.client_cert,
                             key=s.client_key, ca_file=s.ca_file, username=self.device_id)
        will = payloads.offline_payload(self.device_id, s.branch, "connection lost", None)
        client.will_set(self._topic(topics.STATE), payloads.encode(will), qos=1, retain=True)
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        self._client = client
        handlers = CommandHandlers(self.hooks, self.shadow, defer=self.lifecycle.defer,
                                   begin=self.lifecycle.begin,
                                   agent_status=self._agent_status,
                                   telemetry=self._telemetry_payload,
                                   capabilities=self.capabilities,
                                   config_changed=self._publish_reported)
        self._runner = CommandRunner(self.device_id, handlers, self.cache, self._respond,
                                     self._report)
        self._sender = OutboxSender(self.outbox, self.device_id, self._publish_outbox,
                                    self._acks, self.connected, self._report,
                                    backoff_min_s=s.reconnect_min_s,
                                    backoff_max_s=max(s.reconnect_max_s, s.reconnect_min_s))
        self._ticker = threading.Thread(target=self._tick_loop, name="fleet-ticker", daemon=True)
        self._runner.start()
        self._sender.start()
        self._ticker.start()
        client.connect_async(self.address.host, self.address.port, keepalive=s.keepalive_s,
                             clean_start=True)
        client.loop_start()
        log.info("fleet agent %s: connecting to %s", self.device_id, self.address.url)

    def share_connection(self, on_connect: Callable[[], None]) -> mqtt.Client:
        """The agent's own paho client, for another user of the unit's one connection (the
        broker forces a unit's client id to its certificate's name, so a second connection
        would take this one's place): the remote meeting's bus. ``on_connect()`` runs on
        paho's network thread after each accepted (re)connection, after the agent's own
        subscriptions (a clean start forgets everyone's); it must not block. The user adds
        per-topic callbacks (``message_callback_add``) and leaves the agent's own alone.
        Only after :meth:`start`."""
        if self._client is None:
            raise FleetError("the fleet agent has no connection yet; start it before sharing it")
        with self._lock:
            self._connect_listeners.append(on_connect)
        return self._client

    def on_record(self, record: Record) -> None:
        """The ledger's ``on_record``: each CHECKPOINT goes to the outbox. Never raises."""
        if record.type != records.CHECKPOINT:
            return
        try:
            witness = record.witness()
            check_witness(witness)
            self.outbox.put("checkpoint", payloads.checkpoint_payload(witness, time.time()))
        except Exception as exc:
            self._report(exc)
            return
        if self._sender is not None:
            self._sender.wake()

    def event(self, kind: str, data: dict[str, Any] | None = None) -> None:
        """Queue an event (a kind of the contract: ``boot``, ``session_started``, ``fault``...,
        docs/mqtt.md). Durable when this returns. ValueError (PersonalDataError among them) for
        a kind the contract does not know or a payload with personal data; StorageError when
        the disk refuses it."""
        payload = payloads.event_payload(self.device_id, kind, dict(data or {}),
                                         uuid.uuid4().hex, time.time())
        check_payload(payload)
        self.outbox.put("event", payload)
        if self._sender is not None:
            self._sender.wake()

    def notify_state(self) -> None:
        """The state may have changed: publish it at once rather than at the next tick."""
        self._tick.set()

    def set_telemetry_interval(self, seconds: float) -> None:
        """Publish telemetry every ``seconds`` from now on (an operator's set-config)."""
        if not 0.05 <= seconds <= 86400:
            raise ValueError(f"telemetry interval {seconds} must be 0.05..86400 seconds")
        self._interval = float(seconds)
        self._next_telemetry = 0.0
        self._tick.set()

    def set_reconnect(self, min_s: float, max_s: float) -> None:
        """Reconnect with a backoff doubling from ``min_s`` to ``max_s`` seconds from now on."""
        if not 0 < min_s <= max_s:
            raise ValueError(f"reconnect backoff {min_s}..{max_s}: must be > 0 and min <= max")
        if self._client is not None:
            self._client.reconnect_delay_set(min_s, max_s)

    def capabilities(self) -> dict[str, Any]:
        """What this unit speaks and can do (the ``capabilities`` command)."""
        can = self.hooks.abilities()
        return {"firmware": can.firmware or __version__, "contract": CONTRACT_VERSION,
                "topic_version": "v1", "commands": list(SPECS),
                "events": list(vocabulary.EVENT_KINDS), "live_settings": list(can.live_settings),
                "limits": {"request_bytes": MAX_COMMAND_BYTES, "log_bytes": MAX_LOG_BYTES,
                           "queued_commands": QUEUE_LIMIT,
                           "remembered_answers": self.cache.size},
                "restart": can.restart.as_payload(), "reboot": can.reboot.as_payload(),
                "logs": {"journal": can.journal}, "simulated": can.simulated}

    def stop(self, timeout: float = 5.0) -> None:
        """Publish state ``offline`` (reason "stopped") if connected, disconnect, stop every
        thread. Safe twice, and from a hook called by the agent's own threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stopping.set()
        self._tick.set()
        if self._runner is not None:
            self._runner.close()
        if self._sender is not None:
            self._sender.stop()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout)
        client = self._client
        if client is None:
            return
        if self.connected.is_set():
            try:
                bye = payloads.offline_payload(self.device_id, self.settings.branch, "stopped",
                                               time.time())
                mid = self._publish(topics.STATE, bye, qos=1, retain=True)
                if mid is not None:
                    self._acks.wait(mid, min(timeout, 2.0), threading.Event())
            except Exception as exc:
                self._report(exc)
            client.disconnect()
        client.loop_stop()
        log.info("fleet agent %s stopped", self.device_id)

    close = stop

    def __enter__(self) -> "FleetAgent":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- publishing --------------------------------------------------------------------------
    def _topic(self, leaf: str) -> str:
        return topics.device_topic(self.device_id, leaf)

    def _publish(self, leaf_or_topic: str, payload: dict[str, Any], *, qos: int = 1,
                 retain: bool = False, properties: Properties | None = None) -> int | None:
        """Check and publish; the message id, or None when the client would not queue it."""
        check_payload(payload)
        topic = leaf_or_topic if leaf_or_topic.startswith(topics.PREFIX) \
            else self._topic(leaf_or_topic)
        info = self._client.publish(topic, payloads.encode(payload), qos=qos, retain=retain,
                                    properties=properties)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("publish to %s not queued: %s", topic, mqtt.error_string(info.rc))
            return None
        return info.mid

    def _publish_outbox(self, topic: str, payload: dict[str, Any], retain: bool) -> int | None:
        return self._publish(topic, payload, qos=1, retain=retain)

    def _respond(self, response: dict[str, Any], reply: Reply) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = payloads.RESPONSE_EXPIRY_S
        if reply.correlation is not None:
            props.CorrelationData = reply.correlation
        try:
            self._publish(reply.topic, response, qos=1, properties=props)
        except Exception as exc:
            self._report(exc)

    def _publish_state(self, status: DeviceStatus) -> None:
        self._publish(topics.STATE, payloads.state_payload(
            self.device_id, self.settings.branch, status, time.time()), qos=1, retain=True)
        self._published_state = status

    def _telemetry_payload(self) -> dict[str, Any]:
        return payloads.telemetry_payload(self.device_id, self.settings.branch,
                                          self.hooks.telemetry(), len(self.outbox), time.time())

    def _publish_telemetry(self) -> None:
        self._publish(topics.TELEMETRY, self._telemetry_payload(), qos=0, retain=True)

    def _publish_reported(self) -> None:
        if self.connected.is_set():
            try:
                self._publish(topics.CONFIG_REPORTED, self.shadow.document(self.hooks),
                              retain=True)
            except Exception as exc:
                self._report(exc)

    # -- paho callbacks (network thread): never raise ----------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._report(FleetError(f"the broker {self.address.url} refused the connection: "
                                    f"{reason_code}"))
            return
        log.info("fleet agent %s: connected to %s", self.device_id, self.address.url)
        try:
            commands = SubscribeOptions(qos=1, retainAsPublished=True, retainHandling=2)
            self._sub_mid = client.subscribe([(self._topic(topics.CMD), commands),
                                              (self._topic(topics.CONFIG_DESIRED),
                                               SubscribeOptions(qos=1))])[1]
            self.connected.set()
            self._published_state = None   # publish state and telemetry at the next tick
            self._next_telemetry = 0.0
            self._tick.set()
            self._publish_reported()
            self._sender.wake()
        except Exception as exc:
            self._report(exc)
        with self._lock:
            listeners = list(self._connect_listeners)
        for listener in listeners:
            try:
                listener()
            except Exception as exc:
                self._report(exc)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if mid != self._sub_mid:
            return
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:
            self._report(FleetError(f"the broker refused our command subscriptions "
                                    f"({', '.join(refused)}); check the ACL"))
        else:
            self.ready.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        self.ready.clear()
        if not self._stopping.is_set():
            log.warning("fleet agent %s: disconnected (%s); reconnecting with backoff",
                        self.device_id, reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acks.record(mid, reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            if msg.topic == self._topic(topics.CMD):
                if not msg.payload and msg.retain:
                    return    # a retained command being cleared: not a command
                props = msg.properties
                wanted = getattr(props, "ResponseTopic", None) if props else None
                reply_to = wanted if isinstance(wanted, str) and topics.is_own_response_topic(
                    self.device_id, wanted) else topics.default_response_topic(self.device_id)
                correlation = getattr(props, "CorrelationData", None) if props else None
                self._runner.submit(msg.payload, Reply(reply_to, correlation),
                                    retained=bool(msg.retain))
            elif msg.topic == self._topic(topics.CONFIG_DESIRED) and msg.payload:
                payload = msg.payload
                self._runner.submit_call(lambda: self._apply_desired(payload))
        except Exception as exc:
            self._report(exc)

    # -- the ticker and friends --------------------------------------------------------------
    def _tick_loop(self) -> None:
        while not self._stopping.is_set():
            self._tick.wait(min(1.0, self._interval))
            self._tick.clear()
            if self._stopping.is_set():
                return
            try:
                self._tick_once(self._interval)
                self._last_tick_error = ""
            except Exception as exc:
                if str(exc) != self._last_tick_error:  # report a lasting fault once
                    self._last_tick_error = str(exc)
                    self._report(exc)

    def _tick_once(self, interval: float) -> None:
        self.lifecycle.run_due()
        if not self.connected.is_set():
            return
        status = self.hooks.current_state()
        if status != self._published_state:
            self._publish_state(status)
        now = time.monotonic()
        if now >= self._next_telemetry:
            self._next_telemetry = now + interval
            self._publish_telemetry()

    def _agent_status(self) -> dict[str, Any]:
        return {"connected": self.connected.is_set(), "broker": self.address.url,
                "outbox": len(self.outbox), "config_version": self.shadow.version,
                "pending": self.lifecycle.pending}

    def _apply_desired(self, payload: bytes) -> None:
        """A retained ``config/desired`` (there is no one to answer: the outcome, a rejection
        too, shows in ``config/reported``)."""
        try:
            self.shadow.apply_retained(payload, self.hooks)
        finally:
            self._publish_reported()
