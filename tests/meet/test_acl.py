"""The project's ACL on a real mosquitto: a relay reaches meeting topics only (no command, no
notice), a unit only its own meetings, the SMS sender only notices. An absence is proved by a
later message the same client may read (the broker delivers in order), not by waiting."""
from __future__ import annotations

import json

from firmware.protocol.mqtt import meet, topics
from firmware.protocol.mqtt.meet_messages import JoinRequest
from tests.fleet.harness import raw_client, wait_until
from tests.meet.parts import SMS

A, B = "dr-unit-a", "dr-unit-b"


def office(broker, pki, cn):
    cert, key = pki.operator(cn)
    return raw_client(broker.operator_port, cert, key, pki.ca_file)


def unit_client(broker, pki, cn):
    cert, key = pki.unit(cn)
    return raw_client(broker.unit_port, cert, key, pki.ca_file, client_id=cn)


def subscribe(client, topic_filter):
    mid = client.client.subscribe(topic_filter, qos=1)[1]
    wait_until(lambda: mid in client.subacks, what="SUBACK")


def publish(client, topic, payload=b"{}"):
    info = client.client.publish(topic, payload, qos=1)
    wait_until(lambda: info.mid in client.pubacks, what="PUBACK")
    return client.pubacks[info.mid]


def code_request(code="000000") -> bytes:
    return meet.encode(JoinRequest("abcdefgh", "code", code=code).as_payload())


def test_a_relay_cannot_command_a_unit_nor_write_what_a_unit_writes(broker, pki, unit, ticket):
    relay = office(broker, pki, "meet.relay")
    opened = unit.host.open(ticket)
    for topic in (topics.device_topic(A, topics.CMD), topics.device_topic(A, "config/desired"),
                  meet.meeting_topic(A, opened.meeting, meet.STATE),
                  meet.meeting_topic(A, opened.meeting, meet.NOTICE),
                  meet.meeting_topic(A, opened.meeting, meet.ANSWER),
                  meet.party_topic(A, opened.meeting, "p1")):
        assert publish(relay, topic).is_failure, topic            # 0x87 not authorised
    assert not publish(relay, meet.meeting_topic(A, opened.meeting, meet.JOIN),
                       code_request()).is_failure
    relay.close()


def test_a_relay_never_reads_the_code(broker, pki, unit, ticket):
    relay = office(broker, pki, "meet.relay")
    subscribe(relay, "dualrec/v1/meet/#")
    opened = unit.host.open(ticket)                          # state, then the notice
    # the state is published after the unit subscribed (one connection, in order): a relay
    # that saw it knows the unit listens
    wait_until(lambda: relay.messages, what="the meeting's state")
    publish(relay, meet.meeting_topic(A, opened.meeting, meet.JOIN), code_request())
    wait_until(lambda: any(m.topic.endswith("/answer") for m in relay.messages),
               what="the unit's answer")                     # published after the notice
    seen = [m.topic.rsplit("/", 1)[1] for m in relay.messages]
    assert seen == ["state", "answer"]
    assert opened.meeting not in str([m.payload for m in relay.messages if b"code" in m.payload])
    relay.close()


def test_a_unit_reads_and_writes_only_its_own_meetings(broker, pki, unit, ticket):
    b = unit_client(broker, pki, B)
    subscribe(b, "dualrec/v1/meet/#")
    opened = unit.host.open(ticket)
    relay = office(broker, pki, "meet.relay")
    publish(relay, meet.meeting_topic(A, opened.meeting, meet.JOIN), code_request())
    publish(relay, meet.meeting_topic(A, opened.meeting, meet.TO_UNIT),
            b'{"v":1,"party":"p1","kind":"bye"}')
    own = "0" * 32
    publish(relay, meet.meeting_topic(B, own, meet.JOIN), code_request())      # the barrier
    wait_until(lambda: b.messages, what="B's own join request")
    assert [m.topic for m in b.messages] == [meet.meeting_topic(B, own, meet.JOIN)]
    for leaf in (meet.STATE, meet.NOTICE, meet.ANSWER):
        assert publish(b, meet.meeting_topic(A, opened.meeting, leaf)).is_failure
    assert not publish(b, meet.meeting_topic(B, own, meet.STATE), b"").is_failure
    for c in (b, relay):
        c.close()


def test_the_sms_sender_reads_the_notices_only(broker, pki, unit, ticket):
    sms = office(broker, pki, SMS)
    subscribe(sms, "dualrec/v1/#")
    opened = unit.host.open(ticket)                  # the retained state comes first
    wait_until(lambda: sms.messages, what="the notice")
    assert [m.topic for m in sms.messages] == [meet.meeting_topic(A, opened.meeting,
                                                                  meet.NOTICE)]
    assert json.loads(sms.messages[0].payload)["kind"] == "opened"
    assert publish(sms, meet.meeting_topic(A, opened.meeting, meet.JOIN)).is_failure
    sms.close()
