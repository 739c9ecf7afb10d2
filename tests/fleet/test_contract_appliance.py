"""The whole appliance on simulated hardware, connected to a real mosquitto (project config, TLS,
ACL), with the validating subscriber of conftest.py on the broker: whole sessions, faults, a
crash and every command — each message the unit publishes keeps the closed contract, and says
what an operator needs (why a session ended, how the previous run stopped, what is at fault)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from session_helpers import drive, wait_for

from firmware.protocol.mqtt import topics
from firmware.unit.fleet.commands import MAX_COMMAND_BYTES
from tests.fleet.unit_runner import DEVICE, UnitRunner

CHILD = Path(__file__).with_name("appliance_child.py")


@pytest.fixture
def unit(tmp_path, pki, broker):
    cert, key = pki.unit(DEVICE)
    runner = UnitRunner(tmp_path / "unit", url=broker.unit_url, cert=cert, key=key,
                        ca=pki.ca_file)
    yield runner
    runner.close()


def ask(operator, command: str, args: dict | None = None, **kw) -> dict:
    answer = operator.request([DEVICE], command, args or {}, timeout=30, **kw)[DEVICE]
    assert answer is not None, f"no answer to {command}"
    return answer


def reported(operator) -> dict:
    msgs, _ = operator.retained([topics.device_topic(DEVICE, topics.CONFIG_REPORTED)])
    return json.loads(msgs[0].payload) if msgs else {}


def test_a_whole_session_then_every_command(unit, contract_watch, operator):
    app = unit.start()
    boot = contract_watch.wait_event("boot")["data"]
    assert boot["previous"]["stop"] == "first_start" and boot["simulated"] is True
    contract_watch.wait_event("selftest", lambda d: d["ok"])
    sid = drive(app)
    started = contract_watch.wait_event("session_started", lambda d: d["session_id"] == sid)
    assert (started["data"]["template"], started["data"]["mode"]) == ("quick", "av")
    ended = contract_watch.wait_event("session_ended", lambda d: d["session_id"] == sid)["data"]
    assert (ended["ending"], ended["reason"], ended["script_complete"]) == (
        "completed", "stopped by RECORD held", True)
    assert ended["verdict"] in ("pass", "review") and ended["template"] == "quick"
    contract_watch.wait_for(lambda: any(p["state"] == "recording"
                                        for p in contract_watch.payloads("state")))
    contract_watch.wait_for(lambda: contract_watch.payloads("checkpoints"))

    assert ask(operator, "ping")["result"] == {"pong": True}
    can = ask(operator, "capabilities")["result"]
    assert can["restart"]["available"] and not can["reboot"]["available"]
    assert "simulated" in can["reboot"]["why"] and can["logs"] == {"journal": False}
    status = ask(operator, "status")["result"]
    assert status["state"] == "idle" and status["telemetry"]["backlog"]["sync"] == "off"
    assert status["telemetry"]["backlog"]["count"] > 0       # nothing uploads: it all waits
    assert set(status["telemetry"]["flags"]) == {f"last-session:{f}"
                                                 for f in ended["findings"]}
    assert ask(operator, "locate", {"seconds": 1})["ok"]
    assert ask(operator, "sync-now")["result"] == {"sync": "disabled", "backlog": None}
    assert ask(operator, "verify")["result"]["ok"] is True

    live = ask(operator, "set-config", {"version": 1, "desired": {
        "mqtt": {"telemetry_interval_s": 5}}})["result"]
    assert live["applied_now"] == ["mqtt.telemetry_interval_s"] and live["at_restart"] == []
    later = ask(operator, "set-config", {"version": 2, "desired": {"sync": {"workers": 2}}})
    assert later["result"]["at_restart"] == ["sync.workers"]
    assert later["result"]["config"] == {"mqtt": {"telemetry_interval_s": 5},
                                         "sync": {"workers": 2}}
    refused = ask(operator, "set-config", {"version": 3, "desired": {
        "encryption": {"insurer_public_key": ""}}})
    assert refused["error"]["code"] == "rejected"
    bundle = ask(operator, "apply-config-bundle", {"bundle": "not json at all"})
    assert bundle["error"]["code"] == "rejected"

    desired = topics.device_topic(DEVICE, topics.CONFIG_DESIRED)
    operator.publish(desired, b'{"v": 1, "version": "nine"}', retain=True)
    wait_for(lambda: (reported(operator).get("last_rejection") or {}).get("kind")
             == "config/desired", timeout=15, what="the rejection in config/reported")
    operator.publish(desired, b"", retain=True)              # cleared: nothing changes
    doc = reported(operator)
    assert (doc["version"], doc["pending"], doc["pending_keys"]) == (2, True, ["sync.workers"])

    current = ask(operator, "fetch-logs", {"lines": 5})["result"]
    assert (current["source"], current["text"]) == ("process", "a line this process kept\n")
    previous = ask(operator, "fetch-logs", {"run": "previous"})["result"]
    assert previous["text"] == "" and "not running under systemd" in previous["note"]

    reboot = ask(operator, "reboot", {"force": True})
    assert reboot["error"]["code"] == "rejected" and "simulated" in reboot["error"]["message"]
    restart = ask(operator, "restart", cmd_id="restart-1")
    assert restart["result"] == {"accepted": True, "force": False}
    assert unit.stopped.wait(10) and unit.stop_requests == [75]
    again = ask(operator, "restart", cmd_id="restart-1")
    assert again["repeat"] is True and unit.stop_requests == [75]
    reused = ask(operator, "restart", {"force": True}, cmd_id="restart-1")
    assert reused["error"]["code"] == "id_reused"

    for body, code in [(b"{", "malformed"), (b'{"v":1,"id":"x-1","command":"selfdestruct"}',
                                              "unknown_command"),
                       (b'{"v":1,"id":"x-2","command":"locate","args":{"seconds":0}}',
                        "bad_args"),
                       (b"x" * (MAX_COMMAND_BYTES + 1), "oversized")]:
        answer = operator.send([DEVICE], body, timeout=30)[DEVICE]
        assert answer["error"]["code"] == code, answer
    tolerant = operator.send([DEVICE], b'{"v":1,"id":"x-3","command":"ping","from":"node-red"}',
                             timeout=30)[DEVICE]
    assert tolerant["ok"] is True


def test_a_retained_command_is_refused_not_run(unit, contract_watch, operator):
    unit.start()
    cmd = topics.device_topic(DEVICE, topics.CMD)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = topics.response_topic(DEVICE, "retained-check")
    operator.publish(cmd, b'{"v":1,"id":"r-1","command":"locate","args":{"seconds":2}}',
                     retain=True, properties=props)
    contract_watch.wait_for(lambda: contract_watch.payloads(
        "res/retained-check", lambda p: p.get("id") == "r-1"), what="the refusal")
    answer = contract_watch.payloads("res/retained-check")[0]
    assert answer["error"]["code"] == "retained" and answer["command"] == "locate"
    # it stays on the broker until cleared, but a reconnecting unit never gets it
    unit.close()
    unit.start()
    assert ask(operator, "ping")["ok"]
    assert len(contract_watch.payloads("res/retained-check")) == 1
    operator.publish(cmd, b"", retain=True)                  # cleared: ignored
    assert ask(operator, "ping")["ok"]


def test_stopped_early_then_a_forced_restart_then_the_next_boot(unit, contract_watch,
                                                                  operator):
    app = unit.start()
    first = drive(app, stop_at="facts")
    ended = contract_watch.wait_event("session_ended", lambda d: d["session_id"] == first)
    assert (ended["data"]["ending"], ended["data"]["script_complete"]) == ("stopped", False)
    app.hardware.panel.press("RECORD", 0.1)
    wait_for(lambda: app.flow.active is not None and app.flow.active.nodes, what="recording")
    second = app.flow.active.session_id
    deferred = ask(operator, "restart", cmd_id="r-soft")["result"]
    assert deferred["deferred"] is True
    forced = ask(operator, "restart", {"force": True}, cmd_id="r-forced")["result"]
    assert forced == {"accepted": True, "force": True}
    assert unit.stopped.wait(10)
    unit.close()                                             # what the daemon does at exit 75
    ended = contract_watch.wait_event("session_ended", lambda d: d["session_id"] == second)
    assert (ended["data"]["ending"], ended["data"]["command_id"]) == ("restart", "r-forced")
    unit.start()
    boot = contract_watch.wait_event("boot", lambda d: d["previous"]["stop"] != "first_start")
    previous = boot["data"]["previous"]
    assert (previous["stop"], previous["command_id"]) == ("restart_command", "r-forced")
    assert previous["last_record"]["type"] in ("SHUTDOWN", "CHECKPOINT")
    flags = ask(operator, "status")["result"]["telemetry"]["flags"]
    assert "last-session:restart" in flags


def test_a_camera_lost_mid_session_is_a_fault_with_its_part(unit, contract_watch, operator):
    app = unit.start()
    app.hardware.panel.press("RECORD", 0.1)
    wait_for(lambda: app.flow.active is not None and app.flow.active.nodes, what="recording")
    sid = app.flow.active.session_id
    app.hardware.camera.unplug()
    fault = contract_watch.wait_event("fault", lambda d: d["reason"] == "device_lost")["data"]
    assert (fault["part"], fault["session_id"]) == ("camera", sid)
    assert "unplugged" in fault["message"]
    contract_watch.wait_for(lambda: any(p["detail"].endswith("; camera lost")
                                        for p in contract_watch.payloads("state")),
                            what="the state saying so")
    status = ask(operator, "status")["result"]
    assert status["state"] == "recording" and status["telemetry"]["health"]["camera"] == "fault"
    app.hardware.camera.replug()
    app.hardware.panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
    ended = contract_watch.wait_event("session_ended", lambda d: d["session_id"] == sid)
    assert ended["data"]["ending"] == "stopped" and "media_gap" in ended["data"]["findings"]


def test_a_crash_mid_session_is_an_interrupted_session_and_an_unclean_boot(
        unit, contract_watch, operator):
    child = subprocess.Popen([sys.executable, str(CHILD), json.dumps({
        "root": str(unit.root), "mqtt": unit.mqtt})], stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().split()
        assert line[:1] == ["recording"], line
        sid = line[1]
        contract_watch.wait_event("session_started", lambda d: d["session_id"] == sid)
    finally:
        child.kill()                                         # a power cut, as the unit sees it
        child.wait()
        child.stdout.close()
    contract_watch.wait_for(lambda: any(p["detail"] == "connection lost"
                                        for p in contract_watch.payloads("state")),
                            what="the Last Will")
    unit.start()
    boot = contract_watch.wait_event("boot", lambda d: d["previous"]["stop"] == "unclean")
    assert boot["data"]["previous"]["interrupted_sessions"] == [sid]
    ended = contract_watch.wait_event("session_ended", lambda d: d["session_id"] == sid)
    assert (ended["data"]["ending"], ended["data"]["verdict"]) == ("interrupted", None)
    assert "last-session:interrupted" in ask(operator, "status")["result"]["telemetry"]["flags"]
