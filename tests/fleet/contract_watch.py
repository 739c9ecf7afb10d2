"""A validating subscriber: an operator's connection to the real broker that receives every
message under ``dualrec/v1/devices/#`` and checks each one a unit publishes against the
contract (docs/asyncapi/dualrec-mqtt-v1.yaml) with every object closed, so a field the
contract does not describe is a violation too; and its QoS and retain flag against the
publishing operation's binding (retain-as-published, so a live message shows the flag it was
published with).

Not collected by pytest (no ``test_`` prefix); used by conftest.py for every test with a
broker, and by the appliance tests.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from firmware.protocol.mqtt.contract import Contract

ALL = "dualrec/v1/devices/#"
_CONTRACT: list[Contract] = []


def closed_contract() -> Contract:
    """The contract with every described object closed (loaded once per test session)."""
    if not _CONTRACT:
        _CONTRACT.append(Contract.load().closed())
    return _CONTRACT[0]


@dataclass(frozen=True)
class Seen:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    expiry: int | None
    correlation: bytes | None

    def json(self) -> Any:
        return json.loads(self.payload)


class ContractWatch:
    """Connects at once; :meth:`violations` lists what broke the contract so far."""

    def __init__(self, port: int, cert: str, key: str, ca: str) -> None:
        self.contract = closed_contract()
        self.seen: list[Seen] = []
        self.ignored: set[str] = set()      # devices a test plays with junk on purpose
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                        client_id=f"contract-watch-{id(self):x}",
                        protocol=MQTTProtocolVersion.MQTTv5)
        c.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
        c.reconnect_delay_set(0.1, 0.5)
        c.on_connect = self._on_connect
        c.on_subscribe = lambda *a: self._subscribed.set()
        c.on_message = self._on_message
        self.client = c
        c.connect("127.0.0.1", port, keepalive=30, clean_start=True)
        c.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("the validating subscriber did not subscribe")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe([(ALL, SubscribeOptions(qos=1, retainAsPublished=True))])

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        props = msg.properties
        seen = Seen(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain),
                    getattr(props, "MessageExpiryInterval", None) if props else None,
                    getattr(props, "CorrelationData", None) if props else None)
        with self._cond:
            self.seen.append(seen)
            self._cond.notify_all()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # -- what was seen -------------------------------------------------------------------------
    def unit_messages(self) -> list[Seen]:
        """Messages on topics a unit publishes (the contract's ``send`` operations)."""
        with self._cond:
            seen = list(self.seen)
        out = []
        for m in seen:
            route = self.contract.route(m.topic)
            op = self.contract.operation_for(route.channel) if route else None
            if route is None or op is None or op["action"] == "send":
                out.append(m)
        return out

    def ignore(self, device: str) -> None:
        """Publications under ``device`` are a test's deliberate junk, not a unit's."""
        self.ignored.add(device)

    def violations(self) -> list[str]:
        out = []
        for m in self.unit_messages():
            if any(f"/devices/{d}/" in m.topic for d in self.ignored):
                continue
            route = self.contract.route(m.topic)
            if route is None:
                out.append(f"{m.topic}: not a topic of the contract")
                continue
            if not m.payload and m.retain:
                continue   # a retained message cleared
            out += self.contract.problems(m.topic, m.payload)
            if route.qos is not None and m.qos != route.qos:
                out.append(f"{m.topic}: QoS {m.qos}, the contract says {route.qos}")
            if route.retain is not None and m.retain != route.retain:
                out.append(f"{m.topic}: retain {m.retain}, the contract says {route.retain}")
            if route.channel in ("response", "defaultResponse") and not m.expiry:
                out.append(f"{m.topic}: a response without a MessageExpiryInterval")
        return out

    def assert_clean(self) -> None:
        found = self.violations()
        assert not found, "messages that break the contract:\n" + "\n".join(found[:40])

    def payloads(self, leaf: str, where: Callable[[dict], bool] = lambda p: True) -> list[dict]:
        """JSON payloads seen on ``.../<device>/<leaf>`` (any device), in arrival order."""
        out = []
        for m in self.unit_messages():
            if m.topic.endswith("/" + leaf) and m.payload:
                p = m.json()
                if where(p):
                    out.append(p)
        return out

    def events(self, kind: str | None = None) -> list[dict]:
        return self.payloads("events", lambda p: kind is None or p.get("kind") == kind)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30,
                 what: str = "a message") -> Any:
        """Until ``predicate()`` is true, woken by each message that arrives."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; "
                                     f"seen: {[m.topic.rsplit('/', 1)[-1] for m in self.seen]}")
            return predicate()

    def wait_event(self, kind: str, where: Callable[[dict], bool] = lambda d: True,
                   timeout: float = 30) -> dict:
        def found():
            hits = [e for e in self.events(kind) if where(e["data"])]
            return hits[-1] if hits else None
        return self.wait_for(found, timeout, f"event {kind}")
