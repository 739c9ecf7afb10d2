"""The real pieces of the meeting tests (not collected: no ``test_`` prefix): the unit's side
on its own MQTT connection, a relay on its own thread and loop, a browser over aiohttp's
WebSocket client, the back office's SMS sender and a validating watcher."""
from __future__ import annotations

import asyncio
import json
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable

import aiohttp
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from drivers.clock import SimClock
from firmware.office.meet.relay import Relay
from firmware.office.meet.settings import parse_settings
from firmware.protocol.mqtt.broker import parse_broker_url
from firmware.protocol.mqtt.contract import Contract
from firmware.unit.meet.bus import PahoMeetingBus
from firmware.unit.meet.host import MeetingEvent, MeetingHost
from firmware.unit.meet.settings import MeetingSettings
from firmware.unit.meet.signalling import Signalling

RELAY_B = "meet.relay-b"
SMS = "sms.office"
WATCH = "meet.watch"
STUN = "stun:127.0.0.1:3478"
TURN = "turn:127.0.0.1:3478?transport=udp"
TIMEOUT = 15.0


def run_scenario(scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Runs ``scenario()`` with ``asyncio.run`` on a fresh thread of its own and returns its
    result (its exception is raised here). Not on the test's thread: that thread may carry an
    event loop an earlier test's library left marked running (Playwright's sync API does so
    while it is started), and the coroutine is only created on the thread that runs it, so a
    refused run leaves no coroutine un-awaited."""
    with ThreadPoolExecutor(1, thread_name_prefix="meet-scenario") as pool:
        return pool.submit(lambda: asyncio.run(scenario())).result()


def mqtt_client(port: int, cert: str, key: str, ca: str, client_id: str = "") -> mqtt.Client:
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=MQTTProtocolVersion.MQTTv5)
    c.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
    c.reconnect_delay_set(0.1, 0.5)
    return c


class Collector:
    """Items that arrive on other threads, waited for without sleeping."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._cond = threading.Condition()

    def add(self, item: Any) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], Any], what: str,
                 timeout: float = TIMEOUT) -> Any:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.items), timeout):
                raise AssertionError(f"timed out waiting for {what}; got {self.items!r:.2000}")
            return predicate(self.items)


class UnitSide:
    """A unit's MQTT connection with a MeetingHost on it (the fleet agent's part, here on a
    client of its own), a clock the test moves, and what the host told its owner."""

    def __init__(self, broker, pki, device_id: str, **settings: Any) -> None:
        cert, key = pki.unit(device_id)
        self.clock = SimClock(realtime=False)
        self.events = Collector()
        self.admitted: "queue.Queue[Signalling]" = queue.Queue()
        self.errors: list[Exception] = []
        self.client = mqtt_client(broker.unit_port, cert, key, pki.ca_file, device_id)
        self.bus = PahoMeetingBus(self.client, on_error=self.errors.append)
        connected = threading.Event()

        def on_connect(client, userdata, flags, rc, props):
            self.bus.resubscribe()
            connected.set()
        self.client.on_connect = on_connect
        self.client.connect("127.0.0.1", broker.unit_port, keepalive=30, clean_start=True)
        self.client.loop_start()
        assert connected.wait(TIMEOUT), "the unit did not connect"
        values = dict(enabled=True, ice_servers=(STUN, TURN))
        values.update(settings)
        self.host = MeetingHost(device_id, self.bus, self.clock, MeetingSettings(**values),
                                on_admit=self.admitted.put, on_event=self.events.add,
                                on_error=self.errors.append)

    def next_party(self) -> Signalling:
        return self.admitted.get(timeout=TIMEOUT)

    def event(self, kind: str) -> MeetingEvent:
        return self.events.wait_for(lambda es: next((e for e in es if e.kind == kind), None),
                                    f"event {kind}")

    def close(self) -> None:
        self.host.close()
        self.client.disconnect()
        self.client.loop_stop()
        assert self.errors == []


class Listener:
    """An office MQTT client (SMS sender, watcher) that records what it reads."""

    def __init__(self, broker, pki, cn: str, topic_filter: str) -> None:
        cert, key = pki.operator(cn)
        self.messages = Collector()
        self.client = mqtt_client(broker.operator_port, cert, key, pki.ca_file)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.add(
            (m.topic, bytes(m.payload), bool(m.retain)))
        self.client.connect("127.0.0.1", broker.operator_port, keepalive=30)
        self.client.loop_start()
        assert subscribed.wait(TIMEOUT), f"{cn} did not subscribe"

    def payloads(self, leaf: str) -> list[dict]:
        return [json.loads(p) for t, p, r in list(self.messages.items)
                if t.endswith("/" + leaf) and p]

    def wait_payload(self, leaf: str, where: Callable[[dict], bool] = lambda p: True) -> dict:
        return self.messages.wait_for(
            lambda items: next((p for p in self.payloads(leaf) if where(p)), None),
            f"a {leaf} message")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()



def record_and_read_notice(app, broker, pki) -> dict:
    """RECORD pressed at the counter of ``app``; the meeting's ``opened`` notice (its code and
    meeting id), as the back office's SMS sender reads it off the broker."""
    sms = Listener(broker, pki, SMS, "dualrec/v1/meet/+/+/notice")
    try:
        app.hardware.panel.press("RECORD", 0.1)
        return sms.wait_payload("notice", lambda p: p["kind"] == "opened")
    finally:
        sms.close()

_MEET_CONTRACT: list[Contract] = []


class MeetWatch(Listener):
    """Reads dualrec/v1/meet/#; :meth:`violations` checks each message against the closed
    meeting contract, its QoS and retain flag."""

    def __init__(self, broker, pki) -> None:
        from firmware.protocol.mqtt.meet import MEET_CONTRACT_PATH
        if not _MEET_CONTRACT:
            _MEET_CONTRACT.append(Contract.load(MEET_CONTRACT_PATH).closed())
        self.contract = _MEET_CONTRACT[0]
        super().__init__(broker, pki, WATCH, "dualrec/v1/meet/#")
        self.ignored: set[str] = set()       # topics a test sends junk to on purpose

    def violations(self) -> list[str]:
        out = []
        for topic, payload, retained in list(self.messages.items):
            if not payload or topic in self.ignored:
                continue
            out += self.contract.problems(topic, payload)
        return out

    def assert_clean(self) -> None:
        found = self.violations()
        assert not found, "meeting messages that break the contract:\n" + "\n".join(found[:20])


def relay_settings(secret_path, cert: str, key: str, ca: str, **limits: Any):
    secret_path.write_text("test-turn-secret\n")
    return parse_settings({"relay": {"join_timeout_seconds": 10, **limits},
                           "broker": {"ca_file": ca, "client_cert": cert, "client_key": key},
                           "ice": {"servers": [STUN, TURN],
                                   "turn_secret_file": str(secret_path)}})


class FrozenClock:
    """The relay's monotonic clock for its rate limits: moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RelayThread:
    """A relay on its own thread and event loop, listening on a free loopback port."""

    def __init__(self, settings, broker_url: str) -> None:
        self.clock = FrozenClock()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.relay = Relay(settings, parse_broker_url(broker_url), clock=self.clock)
        self.call(self.relay.start("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.relay.port}"

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    def stop(self) -> None:
        if self.loop.is_running():
            self.call(self.relay.stop())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(TIMEOUT)


class Browser:
    """A remote party's browser, as the join page speaks to the relay."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session, self.ws = session, ws

    @classmethod
    async def open(cls, relay: RelayThread, meeting: str, **headers: str) -> "Browser":
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(f"{relay.url}/ws/{meeting}", headers=headers or None)
        return cls(session, ws)

    async def send(self, **frame: Any) -> None:
        await self.ws.send_json(frame)

    async def next(self, timeout: float = TIMEOUT) -> dict:
        msg = await self.ws.receive(timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return {"type": f"<{msg.type.name}>"}
        return json.loads(msg.data)

    async def ask(self, **frame: Any) -> dict:
        await self.send(**frame)
        return await self.next()

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()
