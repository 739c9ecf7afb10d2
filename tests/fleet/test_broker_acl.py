"""The project's broker configuration, enforced by a real mosquitto: who may do what."""
from __future__ import annotations

import socket
import ssl
import time

import pytest

from firmware.protocol.mqtt import payloads, topics
from firmware.protocol.mqtt.status import DeviceStatus
from tests.fleet.harness import raw_client, wait_until

A, B = "dr-unit-a", "dr-unit-b"


def unit(broker, pki, cn, **kw):
    cert, key = pki.unit(cn)
    return raw_client(broker.unit_port, cert, key, pki.ca_file, **kw)


def watcher(broker, pki, *filters):
    cert, key = pki.operator()
    op = raw_client(broker.operator_port, cert, key, pki.ca_file)
    mid = op.client.subscribe([(f, 1) for f in filters])[1]
    wait_until(lambda: mid in op.subacks, what="SUBACK")
    assert not any(rc.is_failure for rc in op.subacks[mid])
    return op


def test_a_unit_cannot_publish_as_another(broker, pki):
    op = watcher(broker, pki, topics.all_devices("#"))
    a = unit(broker, pki, A)
    state = payloads.state_payload(A, "", DeviceStatus("idle"), time.time())
    forged = a.client.publish(topics.device_topic(B, topics.STATE),
                              payloads.encode({**state, "device": B}), qos=1, retain=True)
    own = a.client.publish(topics.device_topic(A, topics.STATE), payloads.encode(state), qos=1,
                           retain=True)
    wait_until(lambda: own.mid in a.pubacks and forged.mid in a.pubacks, what="PUBACKs")
    assert a.pubacks[forged.mid].is_failure          # 0x87 not authorized
    assert not a.pubacks[own.mid].is_failure
    wait_until(lambda: op.messages, what="A's own state")
    time.sleep(0.2)
    assert [m.topic for m in op.messages] == [topics.device_topic(A, topics.STATE)]
    for c in (a, op):
        c.close()


def test_a_unit_cannot_read_another_units_commands(broker, pki, operator):
    a = unit(broker, pki, A)
    b = unit(broker, pki, B)
    mid_other = a.client.subscribe(topics.device_topic(B, topics.CMD), qos=1)[1]
    mid_all = a.client.subscribe(topics.all_devices(topics.CMD), qos=1)[1]
    mid_own = b.client.subscribe(topics.device_topic(B, topics.CMD), qos=1)[1]
    wait_until(lambda: {mid_other, mid_all} <= set(a.subacks) and mid_own in b.subacks)
    # mosquitto's acl_file may grant the subscription itself; it checks "read" on delivery
    assert not b.subacks[mid_own][0].is_failure
    operator.publish(topics.device_topic(B, topics.CMD), b'{"v":1,"id":"x","command":"ping"}')
    wait_until(lambda: b.messages, what="B's command")
    time.sleep(0.2)
    assert a.messages == []
    for c in (a, b):
        c.close()


def test_an_operator_cannot_publish_what_a_unit_publishes(broker, pki, operator):
    op = watcher(broker, pki, topics.all_devices("#"))
    for leaf in (topics.STATE, topics.EVENTS, topics.CHECKPOINT, f"{topics.RESPONSES}/x"):
        operator.publish(topics.device_topic(A, leaf), b"{}")
    operator.publish(topics.device_topic(A, topics.CMD), b"{}")     # allowed
    wait_until(lambda: op.messages, what="the command")
    time.sleep(0.2)
    assert [m.topic for m in op.messages] == [topics.device_topic(A, topics.CMD)]
    op.close()


def test_no_unit_can_take_over_another_units_connection(broker, pki, operator):
    b = unit(broker, pki, B, client_id=B)
    a = unit(broker, pki, A, client_id=B)      # the broker makes its client id its CN
    time.sleep(0.3)
    assert b.client.is_connected() and a.client.is_connected()
    assert f"as {A} " in broker.log_text()
    for c in (a, b):
        c.close()


@pytest.mark.parametrize("who", ["unit-on-operators-port", "operator-on-units-port"])
def test_each_listener_trusts_only_its_own_ca(broker, pki, who):
    if who == "unit-on-operators-port":
        (cert, key), port = pki.unit(A), broker.operator_port
    else:
        (cert, key), port = pki.operator(), broker.unit_port
    ctx = ssl.create_default_context(cafile=pki.ca_file)
    ctx.load_cert_chain(cert, key)
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        try:
            with ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
                assert tls.recv(1) == b""          # TLS 1.3: refused after the handshake
        except (ssl.SSLError, ConnectionError) as exc:
            assert "unknown ca" in str(exc).lower() or isinstance(exc, ConnectionError)
