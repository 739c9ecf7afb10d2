"""A remote party joins through a relay: the real broker (TLS, ACL), the unit's MeetingHost,
one or two relays, a browser over WebSocket. Every meeting message is checked against the
closed contract by the watcher."""
from __future__ import annotations

import asyncio

from firmware.protocol.mqtt.meet import MeetPayloadError
from firmware.unit.meet.signalling import SignallingClosedError
from tests.meet.conftest import LI_ID, ZHAO_ID
from tests.meet.parts import RELAY_B, SMS, STUN, TURN, Browser, Listener, run_scenario

import pytest

OFFER = {"kind": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n"}
ANSWER = {"kind": "answer", "sdp": "v=0\r\no=- 2 1 IN IP4 0.0.0.0\r\ns=-\r\n"}
CANDIDATE = {"kind": "candidate", "candidate": "candidate:1 1 udp 2130706431 192.0.2.10 "
             "50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}


@pytest.fixture
def sms(broker, pki):
    listener = Listener(broker, pki, SMS, "dualrec/v1/meet/+/+/notice")
    yield listener
    listener.close()


async def join(relay, meeting, code, seats, name, last4, **headers) -> tuple[Browser, dict]:
    b = await Browser.open(relay, meeting, **headers)
    hello = await b.next()
    assert hello["type"] == "meeting" and hello["status"] == "open", hello
    choices = await b.ask(type="code", code=code)
    assert choices["type"] == "choices", choices
    admitted = await b.ask(type="identify", seats=seats, name=name, id_last4=last4)
    return b, admitted


def test_the_right_code_seats_a_party_who_then_signals_with_the_unit(
        broker, watch, unit, relays, sms, ticket):
    relay = relays()
    opened = unit.host.open(ticket)
    notice = sms.wait_payload("notice", lambda p: p["kind"] == "opened")
    assert notice["meeting"] == opened.meeting and notice["seats"] == [0, 1, 3]
    assert notice["ticket_id"] == ticket.ticket_id
    code = notice["code"]

    async def scenario():
        b = await Browser.open(relay, opened.meeting)
        assert (await b.next())["type"] == "meeting"
        choices = await b.ask(type="code", code=code)
        assert choices == {"type": "choices", "choices": [
            {"seat": 0, "role": "policyholder", "label": "投保人", "initial": "赵*"},
            {"seat": 1, "role": "insured", "label": "被保险人", "initial": "赵*"},
            {"seat": 3, "role": "insured", "label": "被保险人", "initial": "李*"}]}
        admitted = await b.ask(type="identify", seats=[0, 1], name=" 赵敏 ",
                               id_last4=ZHAO_ID[-4:])
        assert admitted["type"] == "admitted" and admitted["party"] == "p1"
        assert admitted["roles"] == ["policyholder", "insured"]
        stun, turn = admitted["ice_servers"]
        assert stun == {"urls": [STUN]} and turn["urls"] == [TURN]
        assert turn["username"].endswith(f":b{opened.meeting[:12]}p1") and turn["credential"]

        party = await asyncio.to_thread(unit.next_party)
        assert (party.info.party, party.info.seats, party.info.roles) == \
            ("p1", (0, 1), ("policyholder", "insured"))
        assert party.info.display_name == "赵*" and not party.info.resumed
        assert [s.urls for s in party.info.ice_servers] == [(STUN,), (TURN,)]
        assert party.info.ice_servers[1].username.endswith(f":u{opened.meeting[:12]}")
        got = asyncio.Queue()
        loop = asyncio.get_running_loop()
        party.on_message(lambda m: loop.call_soon_threadsafe(got.put_nowait, m))

        party.send(OFFER)
        assert await b.next() == {"type": "signal", "signal": OFFER}
        await b.send(type="signal", signal=ANSWER)
        await b.send(type="signal", signal=CANDIDATE)
        assert await asyncio.wait_for(got.get(), 15) == ANSWER
        assert await asyncio.wait_for(got.get(), 15) == CANDIDATE
        with pytest.raises(MeetPayloadError) as bad:
            party.send({"kind": "offer", "sdp": "not sdp"})
        assert bad.value.field == "$.sdp"
        await b.close()                                   # the browser goes away
        assert await asyncio.wait_for(got.get(), 15) == {"kind": "bye", "reason": "hangup"}
        assert party.closed
        with pytest.raises(SignallingClosedError):
            party.send(OFFER)

    run_scenario(scenario)
    kinds = [e.kind for e in unit.events.items]
    assert kinds[:2] == ["opened", "admitted"] and "disconnected" in kinds
    assert all(code not in repr(e) for e in unit.events.items)


def test_a_wrong_code_and_a_wrong_identity_are_refused_with_the_tries_left(
        broker, watch, unit, relays, sms, ticket):
    relay = relays()
    opened = unit.host.open(ticket)
    code = sms.wait_payload("notice")["code"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    async def scenario():
        b = await Browser.open(relay, opened.meeting)
        await b.next()
        assert await b.ask(type="code", code=wrong) == {
            "type": "refused", "step": "code", "reason": "wrong_code", "tries_left": 4}
        assert (await b.ask(type="code", code=code))["type"] == "choices"
        assert await b.ask(type="identify", seats=[3], name="李秀英", id_last4="0000") == {
            "type": "refused", "step": "identify", "reason": "identity_mismatch",
            "tries_left": 3}
        # one person may hold several seats; two people may not share one party
        assert (await b.ask(type="identify", seats=[1, 3], name="李秀英",
                            id_last4=LI_ID[-4:]))["reason"] == "identity_mismatch"
        admitted = await b.ask(type="identify", seats=[3], name="李秀英", id_last4=LI_ID[-4:])
        assert admitted["type"] == "admitted" and admitted["roles"] == ["insured"]
        await b.close()

    run_scenario(scenario)
    refused = [e.reason for e in unit.events.items if e.kind == "refused"]
    assert refused == ["wrong_code", "identity_mismatch", "identity_mismatch"]


def test_an_expired_code_is_refused_and_the_back_office_told(
        broker, watch, unit, relays, sms, ticket):
    relay = relays()
    opened = unit.host.open(ticket)
    code = sms.wait_payload("notice")["code"]
    unit.clock.advance(30 * 60)          # the unit's clock, not a sleep

    async def scenario():
        b = await Browser.open(relay, opened.meeting)
        await b.next()
        assert (await b.ask(type="code", code=code))["reason"] == "expired"
        await b.close()

    run_scenario(scenario)
    assert sms.wait_payload("notice", lambda p: p["kind"] == "expired")
    assert unit.event("expired").meeting == opened.meeting


def test_a_code_seats_each_remote_seat_once(broker, watch, unit, relays, sms, ticket):
    relay = relays(guess_burst=20)
    opened = unit.host.open(ticket)
    code = sms.wait_payload("notice")["code"]

    async def scenario():
        first, admitted = await join(relay, opened.meeting, code, [0, 1], "赵敏", ZHAO_ID[-4:])
        assert admitted["party"] == "p1"
        second = await Browser.open(relay, opened.meeting)
        await second.next()
        choices = await second.ask(type="code", code=code)
        assert [c["seat"] for c in choices["choices"]] == [3]      # what is left
        assert (await second.ask(type="identify", seats=[0], name="赵敏",
                                 id_last4=ZHAO_ID[-4:]))["reason"] == "seat_taken"
        assert (await second.ask(type="identify", seats=[3], name="李秀英",
                                 id_last4=LI_ID[-4:]))["party"] == "p2"
        # the grant was used up, and now every seat is taken
        assert (await second.ask(type="code", code=code))["reason"] == "already_joined"
        third = await Browser.open(relay, opened.meeting)
        await third.next()
        assert (await third.ask(type="code", code=code))["reason"] == "full"
        for b in (first, second, third):
            await b.close()

    run_scenario(scenario)
    assert [e.party for e in unit.events.items if e.kind == "admitted"] == ["p1", "p2"]


def test_a_party_comes_back_through_another_relay_with_its_token(
        broker, watch, unit, relays, sms, ticket):
    relay_a, relay_b = relays(), relays(RELAY_B)
    opened = unit.host.open(ticket)
    code = sms.wait_payload("notice")["code"]

    async def scenario():
        first, admitted = await join(relay_a, opened.meeting, code, [3], "李秀英", LI_ID[-4:])
        party = await asyncio.to_thread(unit.next_party)
        # the same party opens a second connection on relay B: it replaces the first
        again = await Browser.open(relay_b, opened.meeting)
        await again.next()
        back = await again.ask(type="resume", token=admitted["token"])
        assert back["type"] == "admitted" and back["party"] == "p1"
        assert back["token"] != admitted["token"]                   # a new token each time
        assert await first.next() == {"type": "bye", "reason": "replaced"}
        resumed = await asyncio.to_thread(unit.next_party)
        assert resumed.info.resumed and resumed.info.party == "p1" and party.closed
        resumed.send(OFFER)
        assert await again.next() == {"type": "signal", "signal": OFFER}
        # the old token is spent
        third = await Browser.open(relay_a, opened.meeting)
        await third.next()
        assert (await third.ask(type="resume", token=admitted["token"]))["reason"] == \
            "bad_token"
        unit.host.end()                                  # the meeting ends: bye everywhere
        assert await again.next() == {"type": "bye", "reason": "closed"}
        for b in (first, again, third):
            await b.close()

    run_scenario(scenario)
    assert unit.host.status is None


def test_the_idle_rule_ends_a_page_that_never_joins_but_not_a_party_in_its_call(
        broker, watch, unit, relays, sms, ticket):
    """After admission a browser in a call has nothing more to say on its WebSocket (its media
    goes to the unit): the relay's idle limit must not cut it, only a page that never joins."""
    relay = relays(idle_seconds=5)
    opened = unit.host.open(ticket)
    code = sms.wait_payload("notice")["code"]

    async def scenario():
        in_call, admitted = await join(relay, opened.meeting, code, [0, 1], "赵敏",
                                       ZHAO_ID[-4:])
        assert admitted["type"] == "admitted"
        party = await asyncio.to_thread(unit.next_party)
        idle = await Browser.open(relay, opened.meeting)            # opened later, says nothing
        assert (await idle.next())["type"] == "meeting"
        assert await idle.next(timeout=30) == {"type": "bye", "reason": "idle"}
        # the admitted page was silent for longer than the idle limit, and is still there
        party.send(OFFER)
        assert await in_call.next() == {"type": "signal", "signal": OFFER}
        assert not party.closed
        for b in (in_call, idle):
            await b.close()

    run_scenario(scenario)
