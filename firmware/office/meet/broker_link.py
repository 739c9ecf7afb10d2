"""The relay's one MQTT connection (paho-mqtt on its own network thread), bridged into the
relay's asyncio loop.

- :meth:`RelayBroker.lookup` finds a meeting by id from the unit's retained ``state`` (the
  join link names only the meeting): subscribe, then publish a marker to the relay's private
  tree; the broker queues the retained messages at subscription, so once the marker is back
  every retained state has arrived.
- :meth:`RelayBroker.request` sends a join request and waits for the unit's answer (matched
  by request id on the meeting's ``answer`` topic) for at most the join timeout.
- :meth:`RelayBroker.watch` delivers a topic filter's messages to a callback on the loop;
  watches are counted per filter, so many browsers of one meeting share one subscription.

Nothing here keeps meeting state: what a meeting is lives on the broker (retained) and in the
unit. Callbacks run on the loop; paho's thread only hands messages over.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware.protocol.mqtt import meet
from firmware.protocol.mqtt.broker import BrokerAddress
from firmware.protocol.mqtt.connection import certificate_cn, make_client
from firmware.protocol.mqtt.errors import BrokerUnreachableError
from firmware.protocol.mqtt.meet import MeetPayloadError, decode, encode
from firmware.protocol.mqtt.meet_messages import JoinAnswer, JoinRequest, MeetingState
from firmware.protocol.mqtt.topics import operator_topic

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]


class RelayBroker:
    def __init__(self, address: BrokerAddress, *, name: str, cert: str = "", key: str = "",
                 ca_file: str = "", username: str = "") -> None:
        self.username = certificate_cn(cert) if address.tls and cert else username or name
        self._address = address
        self._client = make_client(address, client_id=f"{name}-{uuid.uuid4().hex[:12]}",
                                   cert=cert, key=key, ca_file=ca_file, username=self.username)
        self._client.reconnect_delay_set(0.2, 10)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._watches: dict[str, list[Handler]] = {}
        self._subacks: dict[int, asyncio.Future[None]] = {}
        self._pending: dict[str, asyncio.Future[JoinAnswer]] = {}
        self._answer_listeners: list[Callable[[JoinAnswer], None]] = []
        self._connected = threading.Event()
        self._marker_root = operator_topic(self.username, "meet-sync")

    # -- life --------------------------------------------------------------------------------
    async def start(self, timeout: float = 10.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self._address.host, self._address.port, keepalive=30,
                                   clean_start=True)
        self._client.loop_start()
        if not await self._loop.run_in_executor(None, self._connected.wait, timeout):
            self.close()
            raise BrokerUnreachableError(f"the relay could not connect to {self._address.url} "
                                         f"within {timeout} s; check the URL, its certificate "
                                         "and the ACL")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def on_answer(self, listener: Callable[[JoinAnswer], None]) -> None:
        """Every answer seen (also those to other relays' requests: a party admitted on
        another connection replaces this one)."""
        self._answer_listeners.append(listener)

    # -- what the relay does -------------------------------------------------------------------
    async def watch(self, topic_filter: str, handler: Handler, *, qos: int = 1,
                    again: bool = False) -> None:
        """Deliver ``topic_filter``'s messages to ``handler`` on the loop (after the broker
        confirmed the subscription). ``again``: subscribe even if watched already (the broker
        then sends the retained messages once more)."""
        with self._lock:
            handlers = self._watches.setdefault(topic_filter, [])
            handlers.append(handler)
            first = len(handlers) == 1
        if first or again:
            await self._subscribe(topic_filter, qos)

    def unwatch(self, topic_filter: str, handler: Handler) -> None:
        with self._lock:
            handlers = self._watches.get(topic_filter, [])
            if handler in handlers:
                handlers.remove(handler)
            last = not handlers and topic_filter in self._watches
            if last:
                del self._watches[topic_filter]
        if last:
            self._client.unsubscribe(topic_filter)

    async def lookup(self, meeting_id: str, timeout: float) -> MeetingState | None:
        """The meeting's retained state, or None when no unit holds it (or two claim it)."""
        found: list[MeetingState] = []
        marker = f"{self._marker_root}/{uuid.uuid4().hex}"
        done = asyncio.get_running_loop().create_future()

        def seen(topic: str, payload: bytes) -> None:
            if topic == marker:
                if not done.done():
                    done.set_result(None)
                return
            parsed = meet.parse_topic(topic)
            try:
                state = MeetingState.read(decode(payload)) if payload else None
            except MeetPayloadError as exc:
                log.warning("relay: a malformed meeting state ignored (%s)", exc)
                return
            if state and parsed and (parsed.device, parsed.meeting) == (state.device,
                                                                          state.meeting):
                found.append(state)

        state_filter = meet.state_filter(meeting_id)
        await self.watch(state_filter, seen, qos=0, again=True)
        await self.watch(marker, seen, qos=0)
        try:
            self._client.publish(marker, b"x", qos=0)
            await asyncio.wait_for(done, timeout)
        except asyncio.TimeoutError:
            log.warning("relay: no end-of-retained marker within %s s (the ACL must grant "
                        "the relay its dualrec/v1/operators/<cn>/# tree)", timeout)
        finally:
            self.unwatch(marker, seen)
            self.unwatch(state_filter, seen)
        devices = {s.device for s in found}
        return found[-1] if len(devices) == 1 else None

    async def request(self, device: str, meeting_id: str, request: JoinRequest,
                      timeout: float) -> JoinAnswer | None:
        """Send ``request`` to the unit; its answer, or None after ``timeout`` seconds. The
        caller watches the meeting's ``answer`` topic (:meth:`answers_filter`) meanwhile."""
        future = asyncio.get_running_loop().create_future()
        self._pending[request.request] = future
        try:
            self.publish(meet.meeting_topic(device, meeting_id, meet.JOIN), request.as_payload(),
                         meet.JOIN_EXPIRY_S)
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            self._pending.pop(request.request, None)

    def answer_seen(self, topic: str, payload: bytes) -> None:
        """A watch handler for ``answer`` topics: resolves the request it answers."""
        try:
            answer = JoinAnswer.read(decode(payload))
        except MeetPayloadError as exc:
            log.warning("relay: a malformed answer ignored (%s)", exc)
            return
        future = self._pending.get(answer.request)
        if future is not None and not future.done():
            future.set_result(answer)
        for listener in list(self._answer_listeners):
            listener(answer)

    def publish(self, topic: str, payload: dict, expiry_s: int) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = expiry_s
        info = self._client.publish(topic, encode(payload), qos=1, properties=props)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("relay: publish to %s not queued: %s", topic, mqtt.error_string(info.rc))

    # -- paho's thread -----------------------------------------------------------------------------
    async def _subscribe(self, topic_filter: str, qos: int) -> None:
        future = asyncio.get_running_loop().create_future()
        with self._lock:
            result, mid = self._client.subscribe(topic_filter, qos=qos)
            if result == mqtt.MQTT_ERR_SUCCESS:
                self._subacks[mid] = future
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise BrokerUnreachableError(f"the relay is not connected to the broker "
                                         f"({mqtt.error_string(result)})")
        await asyncio.wait_for(future, 10)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._lock:
            future = self._subacks.pop(mid, None)
        if future is not None and self._loop is not None:
            failed = any(rc.is_failure for rc in reason_codes)
            self._loop.call_soon_threadsafe(_settle, future, failed)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("relay: the broker refused the connection: %s", reason_code)
            return
        with self._lock:
            filters = list(self._watches)
        for topic_filter in filters:
            client.subscribe(topic_filter, qos=1)
        self._connected.set()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            handlers = [h for f, hs in self._watches.items()
                        if mqtt.topic_matches_sub(f, msg.topic) for h in hs]
        if handlers and self._loop is not None:
            payload = bytes(msg.payload)
            for handler in handlers:
                self._loop.call_soon_threadsafe(handler, msg.topic, payload)


def _settle(future: asyncio.Future[None], failed: bool) -> None:
    if future.done():
        return
    if failed:
        future.set_exception(BrokerUnreachableError("the broker refused a subscription; "
                                                    "check the relay's ACL"))
    else:
        future.set_result(None)
