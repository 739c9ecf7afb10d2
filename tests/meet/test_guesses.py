"""Guessing: a flood is braked by the relay per client address and per meeting, and the unit
locks the meeting after its wrong tries and says so; malformed input is refused, never used."""
from __future__ import annotations

import asyncio
import json

import aiohttp

from firmware.protocol.mqtt import meet
from tests.meet.conftest import ZHAO_ID
from tests.meet.parts import SMS, Browser, Listener, mqtt_client

PROXY = {"trusted_proxies": ["127.0.0.1/32"]}


def test_a_guess_flood_is_braked_and_locks_the_meeting_and_the_unit_says_so(
        broker, pki, watch, unit, relays, ticket):
    sms = Listener(broker, pki, SMS, "dualrec/v1/meet/+/+/notice")
    relay = relays(**PROXY)
    opened = unit.host.open(ticket)
    code = sms.wait_payload("notice")["code"]
    wrong = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, 9)]

    async def scenario():
        flood = await Browser.open(relay, opened.meeting, **{"X-Forwarded-For": "198.51.100.1"})
        await flood.next()
        answers, updates = [], []
        for c in wrong:
            frame = await flood.ask(type="code", code=c)
            while frame["type"] == "meeting":          # the lock, as the retained state shows it
                updates.append(frame["status"])
                frame = await flood.next()
            answers.append(frame)
        assert updates == ["locked"]
        assert [(a["reason"], a.get("tries_left")) for a in answers] == [
            ("wrong_code", 4), ("wrong_code", 3), ("wrong_code", 2), ("wrong_code", 1),
            ("locked", 0), ("rate_limited", None), ("rate_limited", None),
            ("rate_limited", None)]
        # another address: the meeting's own brake holds (nothing reaches the unit) ...
        other = await Browser.open(relay, opened.meeting, **{"X-Forwarded-For": "203.0.113.7"})
        assert (await other.next())["status"] == "locked"
        assert (await other.ask(type="code", code=code))["reason"] == "rate_limited"
        relay.clock.now += 60                         # ... until a minute passed: then the
        got = await other.ask(type="code", code=code)
        assert got["reason"] == "locked", got
        for b in (flood, other):
            await b.close()

    asyncio.run(scenario())
    assert unit.event("locked").tries == 5
    assert sms.wait_payload("notice", lambda p: p["kind"] == "locked")["tries"] == 5
    assert unit.host.status == "locked"
    reasons = [e.reason for e in unit.events.items if e.kind == "refused"]
    assert reasons == ["wrong_code"] * 4 + ["locked", "locked"]
    sms.close()


def test_malformed_browser_frames_are_refused_naming_the_field(broker, watch, unit, relays,
                                                               ticket):
    relay = relays(max_message_bytes=4096)
    opened = unit.host.open(ticket)

    async def scenario():
        b = await Browser.open(relay, opened.meeting)
        await b.next()
        await b.ws.send_str("{not json")
        assert (await b.next())["field"] == "$"
        for frame, field in [({"type": "code", "code": "12"}, "$.code"),
                             ({"type": "code", "code": "123456", "more": 1}, "$.more"),
                             ({"type": "fly"}, "$.type"),
                             ({"type": "identify", "seats": [0, 0], "name": "赵敏",
                               "id_last4": ZHAO_ID[-4:]}, "$.seats"),
                             ({"type": "identify", "seats": [0], "name": "赵\x00敏",
                               "id_last4": ZHAO_ID[-4:]}, "$.name"),
                             ({"type": "signal", "signal": {"kind": "offer", "sdp": "x"}},
                              "$.signal.sdp"),
                             ({"type": "code", "code": [[[["123456"]]]]}, "$")]:
            answer = await b.ask(**frame)
            assert (answer["type"], answer["reason"], answer["field"]) == \
                ("error", "malformed", field), frame
        await b.ws.send_bytes(b"\x00\x01")
        assert (await b.next())["reason"] == "malformed"
        assert (await b.ask(type="signal", signal={"kind": "bye"}))["reason"] == "not_joined"
        await b.ws.send_str(json.dumps({"type": "code", "code": "1" * 5000}))
        closed = await b.ws.receive(15)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert b.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        await b.close()

    asyncio.run(scenario())
    assert [e.kind for e in unit.events.items] == ["opened"]      # nothing reached the unit


def test_malformed_mqtt_messages_are_answered_or_dropped_never_used(broker, pki, watch, unit,
                                                                   ticket):
    """A relay's junk on the unit's topics (the relay's own certificate)."""
    opened = unit.host.open(ticket)
    join = meet.meeting_topic("dr-unit-a", opened.meeting, meet.JOIN)
    to_unit = meet.meeting_topic("dr-unit-a", opened.meeting, meet.TO_UNIT)
    watch.ignored |= {join, to_unit}
    watch.wait_payload("state")        # published after the unit subscribed: it listens now
    cert, key = pki.operator("meet.relay")
    relay = mqtt_client(broker.operator_port, cert, key, pki.ca_file)
    relay.connect("127.0.0.1", broker.operator_port)
    relay.loop_start()
    for junk in (b"\xff\xfe", b"[1]", b'{"v":1,"v":1}', b"{" * 5000, b"x" * 70_000,
                 b'{"v":1,"request":"abcdefgh","step":"code","code":"1234567"}',
                 b'{"v":1,"request":"abcdefgi","step":"identify","grant":"g","seats":[0],'
                 b'"proof":"00"}'):
        relay.publish(join, junk, qos=1)
    relay.publish(to_unit, b'{"v":1,"party":"p1","kind":"offer","sdp":"v=0"}', qos=1)
    answers = watch.messages.wait_for(
        lambda items: [json.loads(p) for t, p, r in items if t.endswith("/answer")]
        if sum(t.endswith("/answer") for t, p, r in items) >= 2 else None, "two answers")
    assert [(a["request"], a["ok"], a["reason"]) for a in answers] == [
        ("abcdefgh", False, "malformed"), ("abcdefgi", False, "malformed")]
    assert [e.kind for e in unit.events.items] == ["opened"]
    relay.disconnect()
    relay.loop_stop()
