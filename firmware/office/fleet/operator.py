"""The operators' side of the broker: read retained states, send commands, follow the stream.

Used by ``dualrec-fleet``. One :class:`OperatorClient` is one MQTT v5 connection with the
operator's certificate (CN = username) on the operators' listener. Calls block the caller;
paho's network thread feeds a queue.
"""
from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware.protocol.mqtt import topics
from firmware.protocol.mqtt.connection import certificate_cn, make_client
from firmware.protocol.mqtt.errors import BrokerUnreachableError, FleetError
from firmware.protocol.mqtt.broker import parse_broker_url


COMMAND_EXPIRY_S = 300
"""The longest a command waits on the broker for an offline unit (the contract recommends it):
an operator who gave up does not restart a unit hours later."""


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    correlation: bytes | None = None


class OperatorClient:
    """A connection as an operator. Use as a context manager; ``close()`` is safe twice."""

    def __init__(self, url: str, *, cert: str = "", key: str = "", ca_file: str = "",
                 username: str | None = None, timeout: float = 10.0) -> None:
        self.address = parse_broker_url(url)
        self.timeout = timeout
        if username:
            self.username = username
        elif cert:
            self.username = certificate_cn(cert)
        else:
            self.username = "anonymous"
        self.client_id = f"dualrec-fleet-{uuid.uuid4().hex[:12]}"
        self._client = make_client(self.address, client_id=self.client_id, cert=cert, key=key,
                                   ca_file=ca_file, username=username)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._connected = threading.Event()
        self._connack: Any = None
        self._subacks: dict[int, list] = {}
        self._suback_cond = threading.Condition()
        self._open = False
        self._reply_suffix = uuid.uuid4().hex[:16]
        self._reply_subscribed = False

    # -- connection --------------------------------------------------------------------------
    def connect(self) -> "OperatorClient":
        try:
            self._client.connect(self.address.host, self.address.port, keepalive=30,
                                 clean_start=True)
        except (OSError, ValueError) as exc:
            raise BrokerUnreachableError(f"cannot reach the broker {self.address.url}: {exc}") \
                from None
        self._open = True
        self._client.loop_start()
        if not self._connected.wait(self.timeout):
            self.close()
            if self._connack is not None:
                raise BrokerUnreachableError(f"the broker {self.address.url} refused us: "
                                             f"{self._connack} (is the certificate an "
                                             "operator's, and is it in the ACL?)")
            raise BrokerUnreachableError(f"no answer from {self.address.url} within "
                                         f"{self.timeout:g} s (wrong port, or not an operators' "
                                         "listener?)")
        return self

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connack = reason_code
        if not reason_code.is_failure:
            self._connected.set()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        props = msg.properties
        corr = getattr(props, "CorrelationData", None) if props else None
        self._inbox.put(Message(msg.topic, msg.payload, bool(msg.retain), corr))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._suback_cond:
            self._subacks[mid] = list(reason_codes)
            self._suback_cond.notify_all()

    def subscribe(self, filters: list[str], qos: int = 1) -> None:
        """Subscribe and wait for the broker's answer; FleetError if it refuses any filter."""
        result, mid = self._client.subscribe([(f, qos) for f in filters])
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise FleetError(f"cannot subscribe: {mqtt.error_string(result)}")
        deadline = time.monotonic() + self.timeout
        with self._suback_cond:
            while mid not in self._subacks:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FleetError(f"the broker did not confirm the subscription to {filters}")
                self._suback_cond.wait(left)
            codes = self._subacks.pop(mid)
        refused = [f for f, rc in zip(filters, codes) if rc.is_failure]
        if refused:
            raise FleetError(f"the broker refused the subscription to {', '.join(refused)} "
                             "(not an operator in the ACL?)")

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                properties: Properties | None = None) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain,
                                    properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise FleetError(f"cannot publish to {topic}: {mqtt.error_string(info.rc)}")

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()

    def __enter__(self) -> "OperatorClient":
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what operators do -------------------------------------------------------------------
    def retained(self, filters: list[str]) -> tuple[list[Message], bool]:
        """Every retained message under ``filters``, and whether the list is known complete.

        Subscribes at QoS 0 and then publishes a marker to its own private topic: the broker
        queues the retained messages at subscription, so the marker arrives after all of them.
        Without the marker (an ACL without the operators' tree) it waits ``timeout``.
        """
        marker = topics.operator_topic(self.username, f"sync/{uuid.uuid4().hex}")
        self.subscribe(filters + [marker], qos=0)
        self.publish(marker, b"", qos=0)
        found: list[Message] = []
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                msg = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return found, False
            if msg.topic == marker:
                return found, True
            if msg.retain:
                found.append(msg)

    def request(self, devices: list[str], command: str, args: dict[str, Any] | None = None,
                *, cmd_id: str | None = None, timeout: float | None = None
                ) -> dict[str, dict[str, Any] | None]:
        """Send one command to each of ``devices``; their answers by device (None: no answer
        in ``timeout`` seconds). The same id goes to every unit, so sending again with the same
        id is answered from each unit's cache instead of run again."""
        body = json.dumps({"v": 1, "id": cmd_id or uuid.uuid4().hex, "command": command,
                           "args": args or {}}, ensure_ascii=False).encode("utf-8")
        return self.send(devices, body, timeout=timeout)

    def send(self, devices: list[str], body: bytes, *, timeout: float | None = None
             ) -> dict[str, dict[str, Any] | None]:
        """Publish the request ``body`` as is to each unit's ``cmd`` topic (MQTT v5 request:
        ResponseTopic under the unit's ``res/``, CorrelationData) and collect the answers."""
        timeout = self.timeout if timeout is None else timeout
        if not self._reply_subscribed:
            self.subscribe([f"{topics.DEVICES}/+/{topics.RESPONSES}/{self._reply_suffix}"])
            self._reply_subscribed = True
        call = uuid.uuid4().hex[:16]
        for device in devices:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = topics.response_topic(device, self._reply_suffix)
            props.CorrelationData = f"{device}:{call}".encode()
            props.MessageExpiryInterval = max(1, min(COMMAND_EXPIRY_S, int(timeout)))
            self.publish(topics.device_topic(device, topics.CMD), body, properties=props)
        answers: dict[str, dict[str, Any] | None] = {d: None for d in devices}
        deadline = time.monotonic() + timeout
        waiting = set(devices)
        while waiting:
            try:
                msg = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            where = topics.split_device_topic(msg.topic)
            if where is None or where[0] not in waiting \
                    or msg.correlation != f"{where[0]}:{call}".encode():
                continue
            try:
                answers[where[0]] = json.loads(msg.payload)
            except ValueError:
                answers[where[0]] = {"ok": False, "error": {"code": "unreadable",
                                                            "message": "not JSON"}}
            waiting.discard(where[0])
        return answers

    def follow(self, filters: list[str], on_message: Callable[[Message], bool | None], *,
               duration: float | None = None) -> None:
        """Call ``on_message`` for each message under ``filters`` until ``duration`` seconds
        pass (None: forever) or it returns False."""
        self.subscribe(filters)
        deadline = None if duration is None else time.monotonic() + duration
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            try:
                msg = self._inbox.get(timeout=0.5 if left is None else min(left, 0.5))
            except queue.Empty:
                continue
            if on_message(msg) is False:
                return
