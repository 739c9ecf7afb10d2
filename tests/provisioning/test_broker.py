"""The broker's side: a real mosquitto that trusts only the fleet CA takes an enrolled unit
(its CN becomes the MQTT username) and refuses a unit enrolled by another CA at the TLS
handshake."""
from __future__ import annotations

import ssl
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion


def tls_context(ca_file, cert, key, *, max_tls12: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    ctx.load_cert_chain(str(cert), str(key))
    if max_tls12:  # the server's verdict on our certificate then ends the handshake itself
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def client_for(unit, *, cert: str = "tls.crt", key: str = "tls.key",
               max_tls12: bool = False) -> mqtt.Client:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                         client_id=unit.device_id, protocol=MQTTProtocolVersion.MQTTv5)
    client.tls_set_context(tls_context(unit["fleet-ca.crt"], unit[cert], unit[key],
                                       max_tls12=max_tls12))
    return client


def connect_and_wait(client: mqtt.Client, port: int, timeout: float = 5.0):
    """Connect, run the network loop until CONNACK or the connection drops; the CONNACK's
    reason code, or None when there was none."""
    done = threading.Event()
    result: dict = {}
    client.on_connect = lambda c, u, f, rc, p: (result.setdefault("rc", rc), done.set())
    client.on_disconnect = lambda c, u, f, rc, p: done.set()
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.loop_stop()
    return result.get("rc")


def test_the_enrolled_unit_is_accepted_as_its_device_id(broker, ca_dir, enroll):
    unit = enroll(ca_dir, "dr-unit-01")
    client = client_for(unit)
    got = []
    subscribed = threading.Event()
    client.on_message = lambda c, u, m: got.append(m.payload)
    client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
    rc = connect_and_wait(client, broker.port)
    try:
        assert rc is not None and not rc.is_failure, broker.log_text()
        client.loop_start()
        client.subscribe("dualrec/test", qos=1)
        assert subscribed.wait(5)
        client.publish("dualrec/test", b"hello", qos=1)
        for _ in range(100):
            if got:
                break
            time.sleep(0.05)
        assert got == [b"hello"]
    finally:
        client.disconnect()
        client.loop_stop()
    # use_identity_as_username: the broker knows the unit by its certificate's CN
    assert "u'dr-unit-01'" in broker.log_text()


def test_a_unit_from_another_ca_is_refused_at_the_handshake(broker, other_ca_dir, ca_dir,
                                                            enroll):
    foreign = enroll(other_ca_dir, "dr-unit-66")
    # it trusts the fleet's broker, so only the broker's verdict on its certificate counts
    foreign["fleet-ca.crt"].write_bytes((ca_dir / "fleet-ca.crt").read_bytes())

    # TLS 1.2: the broker's refusal is part of the handshake, connect() fails outright
    client = client_for(foreign, max_tls12=True)
    with pytest.raises(ssl.SSLError) as err:
        client.connect("127.0.0.1", broker.port, keepalive=10)
    assert "unknown ca" in str(err.value).lower() or "alert" in str(err.value).lower()

    # TLS 1.3 (the default): the client's handshake completes first, then the broker's alert
    # ends the connection before any CONNACK
    client = client_for(foreign)
    assert connect_and_wait(client, broker.port) is None
    log = broker.log_text()
    assert log.count("certificate verify failed") == 2, log
    assert "dr-unit-66" not in log


def test_the_evidence_certificate_is_no_tls_client_certificate(broker, ca_dir, enroll):
    """The evidence certificate (Ed25519, evidence-signing usage only) opens no connection,
    though it comes from the trusted CA: OpenSSL refuses it for TLS client authentication."""
    unit = enroll(ca_dir, "dr-unit-02")
    client = client_for(unit, cert="device.crt", key="device.key")
    assert connect_and_wait(client, broker.port) is None
    log = broker.log_text()
    assert "certificate verify failed" in log and "dr-unit-02" not in log, log
