"""Remote configuration against the real broker and the real appliance (simulated hardware):
an operator's certificate cannot weaken the unit; a bundle signed by the back office can change
what it must, and the change is on the chain after the restart."""
from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from remote_config_unit import BRANCH, DEVICE, insurer_public_key, make_bundle, unit_config

from drivers.clock import SimClock
from firmware.unit.appliance import Appliance
from firmware.config.bundle import BUNDLE_CONTEXT, BUNDLE_FORMAT
from firmware.config.model import OPERATIONAL, Config, tier_of
from firmware.unit.config_record import config_values
from firmware.protocol.mqtt import topics
from firmware.evidence.keys import DeviceKey
from firmware.unit.remote_config import with_desired_config
from firmware.evidence.verify import verify_path
from tests.fleet.harness import wait_until

ATTACKS = [
    ({"encryption": {"insurer_public_key": ""}}, "[encryption] insurer_public_key: signed"),
    ({"sync": {"enabled": True, "endpoint": "https://evil.example", "bucket": "theirs",
               "keep_local_days": 0}}, "[sync] endpoint: signed"),
    ({"control": {"socket": "/etc/passwd"}}, "[control] socket: local setting"),
    ({"drivers": {"backend": "real"}}, "[drivers] backend: local setting"),
    ({"session": {"mode": "audio_photo"}}, "[session] mode: signed"),
    ({"session": {"scripts_dir": "/tmp"}}, "[session] scripts_dir: signed"),
    ({"people": {"roster_file": "/tmp/roster.json"}}, "[people] roster_file: signed"),
    ({"spool": {"min_free_mb": 0}}, "[spool] min_free_mb: signed"),
    ({"spool": {"checkpoint_every": 100000}}, "[spool] checkpoint_every: signed"),
]


def non_operational(config: Config) -> dict[str, str]:
    return {k: v for k, v in config_values(config).items()
            if tier_of(*k.split(".", 1)) != OPERATIONAL}


def config_events(spool: Path) -> list[dict]:
    out = []
    for path in sorted((spool / "ledger").glob("*.ledger")):
        for line in path.read_text().splitlines():
            record = json.loads(line.split("\t")[0])
            if record["type"] == "EVENT" and record["data"].get("kind") == "config":
                out.append(record["data"])
    return out


class Unit:
    """The appliance as `dualrec run` runs it: the effective configuration at each start."""

    def __init__(self, base: Config) -> None:
        self.base = base
        self.app: Appliance | None = None
        self.stop = threading.Event()

    def start(self) -> Appliance:
        self.stop = threading.Event()
        self.app = Appliance(with_desired_config(self.base), clock=SimClock(realtime=True))
        self.app.start_fleet(request_stop=lambda code: self.stop.set(), logs=lambda n: "",
                             supervised=True)   # as under systemd, which starts it again
        assert self.app.agent.ready.wait(10), "the unit did not connect"
        return self.app

    def restart(self, operator) -> Appliance:
        answer = operator.request([DEVICE], "restart", timeout=10)[DEVICE]
        assert answer["ok"], answer
        assert self.stop.wait(10), "the restart was not requested"
        self.app.close()
        return self.start()

    def close(self) -> None:
        if self.app is not None:
            self.app.close()


@pytest.fixture
def backoffice(tmp_path) -> DeviceKey:
    return DeviceKey.load_or_create(tmp_path / "backoffice" / "backoffice.key")


@pytest.fixture
def unit(tmp_path, pki, broker, backoffice):
    cert, key = pki.unit(DEVICE)
    base = unit_config(tmp_path / "unit", backoffice, mqtt={
        "url": broker.unit_url, "client_cert": cert, "client_key": key, "ca_file": pki.ca_file,
        "branch": BRANCH, "telemetry_interval_s": 5.0, "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5})
    u = Unit(base)
    yield u
    u.close()


def reported(operator) -> dict:
    msgs, complete = operator.retained([topics.device_topic(DEVICE, topics.CONFIG_REPORTED)])
    assert complete and len(msgs) <= 1
    return json.loads(msgs[0].payload) if msgs else {}


def signed_anyway(key: DeviceKey, config: dict, serial: int) -> dict:
    """A bundle the office tool would never sign (a local key): signed by hand."""
    text = json.dumps({"serial": serial, "issued": "2025-06-01T08:00:00Z",
                       "scope": {"devices": [DEVICE]}, "config": config})
    return {"format": BUNDLE_FORMAT, "key": key.public.fingerprint, "body": text,
            "signature": base64.b64encode(key.sign(BUNDLE_CONTEXT + text.encode())).decode()}


def test_an_operator_cannot_weaken_the_unit(unit, operator):
    app = unit.start()
    base = non_operational(app.config)
    for version, (desired, why) in enumerate(ATTACKS, start=1):
        answer = operator.request([DEVICE], "set-config", {"version": version,
                                                           "desired": desired}, timeout=10)
        assert answer[DEVICE]["ok"] is False, desired
        assert answer[DEVICE]["error"]["code"] == "rejected"
        assert why in answer[DEVICE]["error"]["message"], answer
    last = reported(operator)["last_rejection"]
    assert last["version"] == len(ATTACKS) and "checkpoint_every" in last["reason"]
    # a live setting changes at once: in effect, nothing pending, on the chain
    ok = operator.request([DEVICE], "set-config", {"version": 20, "desired": {
        "mqtt": {"telemetry_interval_s": 7.5}}}, timeout=10)[DEVICE]
    assert ok["ok"] and ok["result"]["applied_now"] == ["mqtt.telemetry_interval_s"]
    assert ok["result"]["at_restart"] == [] and "changed at once" in ok["result"]["note"]
    wait_until(lambda: reported(operator).get("version") == 20)
    doc = reported(operator)
    assert doc["pending"] is False and doc["effective"]["set_config_version"] == 20
    spool = Path(app.config.spool.path)
    assert config_events(spool)[-1]["changed"] == {
        "mqtt.telemetry_interval_s": {"from": "5.0", "to": "7.5"}}
    # one that needs a restart is accepted and reported as pending, not as in effect
    later = operator.request([DEVICE], "set-config", {"version": 21, "desired": {
        "mqtt": {"keepalive_s": 20}}}, timeout=10)[DEVICE]
    assert later["ok"] and later["result"]["at_restart"] == ["mqtt.keepalive_s"]
    assert "next restart" in later["result"]["note"]
    assert later["result"]["config"] == {"mqtt": {"telemetry_interval_s": 7.5,
                                                  "keepalive_s": 20}}   # merged, not replaced
    wait_until(lambda: reported(operator).get("version") == 21)
    doc = reported(operator)
    assert doc["pending"] is True and doc["pending_keys"] == ["mqtt.keepalive_s"]
    assert (doc["effective"]["set_config_version"], doc["accepted"]["set_config_version"]) \
        == (20, 21)
    app = unit.restart(operator)
    assert non_operational(app.config) == base
    assert (app.config.mqtt.telemetry_interval_s, app.config.mqtt.keepalive_s) == (7.5, 20)
    wait_until(lambda: reported(operator).get("pending") is False, timeout=10)
    changes = config_events(spool)[-1]["changed"]
    assert changes == {"mqtt.keepalive_s": {"from": "30", "to": "20"}}


def test_a_signed_bundle_changes_sync_and_encryption_and_is_on_the_chain(
        unit, operator, backoffice, tmp_path):
    app = unit.start()
    spool = Path(app.config.spool.path)
    new_insurer = insurer_public_key(tmp_path, "insurer-b").read_text()
    bundle = make_bundle(backoffice, {
        "sync": {"endpoint": "https://s3.b.example", "bucket": "evidence-b", "prefix": "cn-east",
                 "keep_local_days": 14},
        "encryption": {"insurer_public_key": new_insurer}}, 3, branches=(BRANCH,))
    answer = operator.request([DEVICE], "apply-config-bundle",
                              {"bundle": json.loads(bundle)}, timeout=10)[DEVICE]
    assert answer["ok"], answer
    assert answer["result"]["bundle_serial"] == 3 and "next restart" in answer["result"]["note"]
    wait_until(lambda: reported(operator).get("accepted", {}).get("bundle_serial") == 3)
    assert reported(operator)["pending"] is True
    assert app.config.sync.bucket == ""                       # not in effect before the restart

    intruder = DeviceKey.load_or_create(tmp_path / "intruder.key")
    refusals = [
        (json.loads(bundle), "not above the highest accepted serial 3"),        # replayed
        (json.loads(make_bundle(backoffice, {}, 2)), "replayed or older"),
        (json.loads(make_bundle(intruder, {"sync": {"bucket": "x"}}, 9)), "signed by another"),
        (json.loads(make_bundle(backoffice, {"sync": {"bucket": "x"}}, 9,
                                devices=("dr-unit-b",))), "not this unit"),
        (json.loads(make_bundle(backoffice, {"encryption": {"insurer_public_key": ""}}, 9)),
         "never switched off remotely"),
        (signed_anyway(backoffice, {"control": {"socket": "/etc/passwd"}}, 9),
         "[control] socket: local setting"),
        (signed_anyway(backoffice, {"spool": {"path": "/"}}, 9), "[spool] path: local"),
        ({**json.loads(bundle), "body": json.loads(bundle)["body"].replace("evidence-b",
                                                                          "evidence-x")},
         "changed after the back office signed it"),
        ("not json at all", "not a configuration bundle"),
    ]
    for payload, why in refusals:
        refused = operator.request([DEVICE], "apply-config-bundle", {"bundle": payload},
                                   timeout=10)[DEVICE]
        assert refused["ok"] is False and refused["error"]["code"] == "rejected", refused
        assert why in refused["error"]["message"], refused
    assert reported(operator)["last_rejection"]["kind"] == "bundle"

    app = unit.restart(operator)
    c = app.config
    assert (c.sync.endpoint, c.sync.bucket, c.sync.prefix, c.sync.keep_local_days) == (
        "https://s3.b.example", "evidence-b", "cn-east", 14.0)
    assert Path(c.encryption.insurer_public_key).read_text() == new_insurer
    event = config_events(spool)[-1]
    assert set(event["changed"]) == {"sync.endpoint", "sync.bucket", "sync.prefix",
                                     "sync.keep_local_days", "encryption.insurer_public_key"}
    assert event["changed"]["sync.bucket"] == {"from": '""', "to": '"evidence-b"'}
    assert "bundle serial 3" in event["source"]
    wait_until(lambda: reported(operator).get("pending") is False, timeout=10)
    assert reported(operator)["effective"]["bundle_serial"] == 3

    # someone edits the stored bundle on the card: refused at the next start, loudly
    stored = spool / "state" / "config-bundle.json"
    data = json.loads(stored.read_text())
    data["bundle"] = data["bundle"].replace("evidence-b", "evidence-x")
    stored.write_text(json.dumps(data))
    app = unit.restart(operator)
    assert app.config.sync.bucket == "" and app.config.origin.bundle_serial == 0
    event = config_events(spool)[-1]
    assert "changed after the back office signed it" in event["refused"][0]
    assert "ignored" in reported(operator)["refused"][0]
    app.close()
    report = verify_path(spool)
    assert report.ok, report.findings


def test_fuzzed_desired_configurations_leave_the_unit_standing(unit, operator):
    app = unit.start()
    base = non_operational(app.config)
    topic = topics.device_topic(DEVICE, topics.CONFIG_DESIRED)
    values = st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats() \
        | st.text(max_size=12) | st.sampled_from(["", "/", "sim", "audio_photo"])
    keys = st.sampled_from(["insurer_public_key", "endpoint", "keep_local_days", "socket",
                            "min_free_mb", "workers", "keepalive_s", "level", "mode", "path",
                            "backend", "roster_file"]) | st.text(max_size=8)
    sections = st.sampled_from(["encryption", "sync", "control", "spool", "mqtt", "logging",
                                "session", "drivers", "people", "device"]) | st.text(max_size=8)
    desired = st.dictionaries(sections, st.dictionaries(keys, values, max_size=3) | values,
                              max_size=3)
    counter = iter(range(1, 10_000))

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(desired=desired, retained=st.booleans())
    def send(desired, retained):
        version = next(counter)
        if retained:
            operator.publish(topic, json.dumps({"v": 1, "version": version,
                                                "desired": desired}).encode(), retain=True)
            wait_until(lambda: (reported(operator).get("version") == version or (
                reported(operator).get("last_rejection") or {}).get("version") == version),
                timeout=10, what="the retained desired configuration handled")
        else:
            answer = operator.request([DEVICE], "set-config", {"version": version,
                                                               "desired": desired},
                                      timeout=10)[DEVICE]
            assert answer is not None and answer["command"] == "set-config"

    send()
    operator.publish(topic, b"", retain=True)
    assert operator.request([DEVICE], "ping", timeout=10)[DEVICE]["ok"]
    app = unit.restart(operator)
    assert non_operational(app.config) == base
    assert app.config.origin.refused == ()
