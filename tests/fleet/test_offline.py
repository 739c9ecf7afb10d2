"""Offline: events and checkpoints wait in the durable outbox and arrive in order later."""
from __future__ import annotations

import json

from firmware.protocol.mqtt import topics
from firmware.protocol.mqtt.errors import OutboxCorruptError
from tests.fleet.harness import raw_client, wait_until

A = "dr-unit-a"


def collector(broker, pki):
    """A witness collector with a persistent session: it misses nothing while the broker is
    down or it is disconnected."""
    cert, key = pki.operator()
    c = raw_client(broker.operator_port, cert, key, pki.ca_file, client_id="collector-1",
                   clean_start=False, session_expiry=600)
    mid = c.client.subscribe([(topics.device_topic(A, topics.EVENTS), 1),
                              (topics.device_topic(A, topics.CHECKPOINTS), 1)])[1]
    wait_until(lambda: mid in c.subacks, what="SUBACK")
    return c


def fault(n: int) -> dict:
    """A fault event's data (as the contract has it) carrying a number in its message."""
    return {"part": "camera", "reason": "device_lost", "message": f"n={n}", "session_id": None,
            "seq": None}


def stream(c) -> list[tuple[str, object]]:
    out = []
    for m in list(c.messages):
        p = json.loads(m.payload)
        out.append(("event", int(p["data"]["message"][2:])) if m.topic.endswith("/events")
                   else ("checkpoint", p["seq"]))
    return out


def test_the_outbox_drains_in_order_after_a_broker_restart(broker, pki, make_agent, hooks,
                                                           tmp_path, device_key, clock):
    from firmware.evidence.store import Evidence
    c = collector(broker, pki)
    agent = make_agent(hooks)
    agent.event("fault", fault(-1))
    wait_until(lambda: len(c.messages) == 1, what="the first event")
    broker.stop()
    wait_until(lambda: not agent.connected.is_set(), what="the agent to notice")
    expected = []

    def on_record(record):
        agent.on_record(record)
        if record.type == "CHECKPOINT":
            expected.append(("checkpoint", record.seq))
    with Evidence.open(tmp_path / "spool", device_key, clock, device_id=A, checkpoint_every=4,
                       on_record=on_record) as ev:
        for n in range(12):
            agent.event("fault", fault(n))
            expected.append(("event", n))
            ev.event("press", {"button": "NEXT"})
    assert len(agent.outbox) == len(expected) > 12
    broker.start()
    wait_until(lambda: len(c.messages) >= 1 + len(expected), timeout=15, what="the drain")
    assert stream(c)[1:] == expected
    wait_until(lambda: len(agent.outbox) == 0)
    c.close()


def test_nothing_is_lost_across_an_agent_restart(broker, pki, make_agent, hooks):
    c = collector(broker, pki)
    agent = make_agent(hooks)
    broker.stop()
    for n in range(5):
        agent.event("fault", fault(n))
    agent.stop()                                    # the unit restarts while offline
    broker.start()
    make_agent(hooks)                               # a new agent on the same state directory
    wait_until(lambda: len(c.messages) >= 5, timeout=15, what="the drain")
    assert stream(c) == [("event", n) for n in range(5)]
    c.close()


def test_a_corrupted_outbox_file_is_named_set_aside_and_the_rest_delivered(broker, pki,
                                                                           make_agent, hooks):
    c = collector(broker, pki)
    agent = make_agent(hooks)
    broker.stop()
    for n in range(4):
        agent.event("fault", fault(n))
    agent.stop()
    bad = agent.settings.outbox_dir / "000000000002.json"
    bad.write_text('{"v": 1, "kind": "ev')
    broker.start()
    make_agent(hooks)
    wait_until(lambda: len(c.messages) >= 3, timeout=15, what="the rest")
    assert stream(c) == [("event", 0), ("event", 2), ("event", 3)]
    errors = [e for e in make_agent.errors if isinstance(e, OutboxCorruptError)]
    assert len(errors) == 1 and str(bad) in str(errors[0])
    assert (agent.settings.outbox_dir / "corrupt" / bad.name).exists()
    c.close()
