"""Broker URLs, the environment override and the unit's certificate."""
from __future__ import annotations

import pytest

from firmware.errors import ConfigError
from firmware.unit.fleet.agent import FleetAgent
from firmware.protocol.mqtt.errors import FleetSettingsError
from firmware.protocol.mqtt.broker import BrokerAddress, parse_broker_url
from firmware.unit.fleet.settings import AgentSettings
from tests.fleet.harness import FakeHooks


@pytest.mark.parametrize("url, address", [
    ("mqtts://broker.example:8883", BrokerAddress("broker.example", 8883, True)),
    ("mqtts://10.0.0.5", BrokerAddress("10.0.0.5", 8883, True)),
    ("mqtt://127.0.0.1", BrokerAddress("127.0.0.1", 1883, False)),
    (" mqtt://localhost:1884/ ", BrokerAddress("localhost", 1884, False)),
])
def test_broker_urls(url, address):
    assert parse_broker_url(url) == address


@pytest.mark.parametrize("url, why", [
    ("http://broker:80", "mqtts://"), ("mqtts://", "no host"), ("mqtts://u:p@b:8883", "user"),
    ("mqtts://b:8883/x", "only scheme://host:port"), ("mqtts://b:99999", "(?i)port"),
])
def test_bad_urls_say_why(url, why):
    with pytest.raises(FleetSettingsError, match=why) as exc:
        parse_broker_url(url)
    assert isinstance(exc.value, ConfigError) and isinstance(exc.value, ValueError)


def settings(tmp_path, **over) -> AgentSettings:
    return AgentSettings(**{"device_id": "dr-unit-a", "state_dir": tmp_path / "state", **over})


def test_the_environment_overrides_the_configured_url(tmp_path):
    s = settings(tmp_path, url="mqtts://fleet.example:8883")
    assert s.address({}).host == "fleet.example"
    assert s.address({"DUALREC_MQTT_URL": "mqtt://127.0.0.1:1883"}).tls is False
    with pytest.raises(FleetSettingsError, match="no broker"):
        settings(tmp_path).address({})


@pytest.mark.parametrize("over, why", [
    ({"device_id": "Bad Id"}, "device id"), ({"branch": "a/b"}, "branch"),
    ({"client_cert": "x.crt"}, "both"), ({"keepalive_s": 0}, "keepalive_s"),
    ({"reconnect_min_s": 5, "reconnect_max_s": 1}, "reconnect_min_s"),
])
def test_bad_settings_say_why(tmp_path, over, why):
    with pytest.raises(FleetSettingsError, match=why):
        settings(tmp_path, **over)


def test_a_certificate_of_another_unit_is_refused_before_connecting(tmp_path, pki):
    cert, key = pki.unit("dr-unit-b")
    s = settings(tmp_path, url="mqtts://127.0.0.1:1", client_cert=cert, client_key=key,
                 ca_file=pki.ca_file)
    with pytest.raises(FleetSettingsError, match="'dr-unit-b', not this unit"):
        FleetAgent(s, FakeHooks(), environ={})


def test_missing_tls_files_are_named(tmp_path, pki):
    cert, key = pki.unit("dr-unit-a")
    s = settings(tmp_path, url="mqtts://127.0.0.1:1", client_cert=cert, client_key=key,
                 ca_file=str(tmp_path / "nope.crt"))
    agent = FleetAgent(s, FakeHooks(), environ={})
    with pytest.raises(FleetSettingsError, match="nope.crt: no such file"):
        agent.start()
    agent.stop()
    agent.stop()


def test_an_unreachable_broker_is_no_error_and_stop_is_prompt(tmp_path):
    import time
    agent = FleetAgent(settings(tmp_path, url="mqtt://127.0.0.1:9", reconnect_min_s=0.05,
                                reconnect_max_s=0.1), FakeHooks(), environ={})
    agent.start()
    agent.event("selftest", {"ok": True, "failed": [], "checks": {}, "seq": 1})          # queued on disk meanwhile
    time.sleep(0.3)
    start = time.monotonic()
    agent.stop()
    assert time.monotonic() - start < 3
    assert len(agent.outbox) == 1
