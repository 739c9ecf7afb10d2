"""What the meeting host needs of MQTT, and two ways to have it.

:class:`MeetingBus` is the whole interface: publish, subscribe with a callback, unsubscribe.
:class:`PahoMeetingBus` puts it on an existing paho-mqtt client — on the unit that is the fleet
agent's own connection, because the broker forces a unit's client id to its certificate's CN
and a second connection would take the first one's place. :class:`MemoryBus` is an in-process
broker (retained messages, wildcards, in-order delivery) for tests of the host and of the
parts built on it.

Threading contract: callbacks run on the bus's delivery thread (paho's network thread; the
publishing thread for :class:`MemoryBus`), one at a time, in arrival order; they must not
block. A callback that raises is the bus's owner's fault to hear about (``on_error``).
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Callable, Protocol, runtime_checkable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes, bool], None]
"""``(topic, payload, retained)``."""


@runtime_checkable
class MeetingBus(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                expiry_s: int | None = None) -> None:
        """Queue a message; ``expiry_s`` is MQTT v5's MessageExpiryInterval."""

    def subscribe(self, topic_filter: str, on_message: OnMessage) -> None:
        """Deliver messages matching ``topic_filter`` to ``on_message`` (one per filter)."""

    def unsubscribe(self, topic_filter: str) -> None:
        """Stop delivering ``topic_filter``; unknown filters are ignored."""


class PahoMeetingBus:
    """A :class:`MeetingBus` on a paho-mqtt 2.x client (MQTT v5) owned by someone else.

    The owner calls :meth:`resubscribe` from its ``on_connect`` (a clean-start connection
    forgets subscriptions); per-filter callbacks (``message_callback_add``) leave the owner's
    own ``on_message`` alone.
    """

    def __init__(self, client: mqtt.Client, *,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self._client = client
        self._on_error = on_error
        self._filters: dict[str, OnMessage] = {}
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                expiry_s: int | None = None) -> None:
        props = None
        if expiry_s:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = int(expiry_s)
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("meeting: publish to %s not queued: %s", topic,
                        mqtt.error_string(info.rc))

    def subscribe(self, topic_filter: str, on_message: OnMessage) -> None:
        with self._lock:
            self._filters[topic_filter] = on_message
        self._client.message_callback_add(topic_filter, self._deliver(on_message))
        self._client.subscribe(topic_filter, qos=1)

    def unsubscribe(self, topic_filter: str) -> None:
        with self._lock:
            known = self._filters.pop(topic_filter, None) is not None
        if known:
            self._client.message_callback_remove(topic_filter)
            self._client.unsubscribe(topic_filter)

    def resubscribe(self) -> None:
        """Subscribe every filter again (call from the client's ``on_connect``)."""
        with self._lock:
            filters = list(self._filters)
        for topic_filter in filters:
            self._client.subscribe(topic_filter, qos=1)

    def _deliver(self, on_message: OnMessage) -> Callable[..., None]:
        def callback(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
            try:
                on_message(msg.topic, bytes(msg.payload), bool(msg.retain))
            except Exception as exc:  # the network thread must go on
                log.exception("meeting: a message handler failed")
                if self._on_error is not None:
                    self._on_error(exc)
        return callback


class MemoryBus:
    """An in-process broker with MQTT's topic matching, retained messages (an empty retained
    payload clears) and in-order delivery. A publish made from inside a callback is delivered
    after that callback returns (no re-entry), on the same thread."""

    def __init__(self) -> None:
        self._subs: dict[str, OnMessage] = {}
        self._retained: dict[str, bytes] = {}
        self._queue: deque[tuple[str, bytes, str | None]] = deque()
        self._lock = threading.RLock()
        self._delivering = False
        self.published: list[tuple[str, bytes, bool]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                expiry_s: int | None = None) -> None:
        with self._lock:
            self.published.append((topic, bytes(payload), retain))
            if retain:
                if payload:
                    self._retained[topic] = bytes(payload)
                else:
                    self._retained.pop(topic, None)
            self._queue.append((topic, bytes(payload), None))
            self._drain()

    def subscribe(self, topic_filter: str, on_message: OnMessage) -> None:
        with self._lock:
            self._subs[topic_filter] = on_message
            for topic, payload in list(self._retained.items()):
                if mqtt.topic_matches_sub(topic_filter, topic):
                    self._queue.append((topic, payload, topic_filter))
            self._drain()

    def unsubscribe(self, topic_filter: str) -> None:
        with self._lock:
            self._subs.pop(topic_filter, None)

    def retained(self, topic: str) -> bytes | None:
        with self._lock:
            return self._retained.get(topic)

    def _drain(self) -> None:
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._queue:
                topic, payload, only = self._queue.popleft()
                for topic_filter, callback in list(self._subs.items()):
                    if only is not None and topic_filter != only:
                        continue
                    if mqtt.topic_matches_sub(topic_filter, topic):
                        callback(topic, payload, only is not None)
        finally:
            self._delivering = False
