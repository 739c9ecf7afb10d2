"""The unit's agent against a real mosquitto: state, telemetry, checkpoints, every command."""
from __future__ import annotations

import json
import time

import pytest

from firmware.protocol.mqtt import topics
from firmware.protocol.mqtt.errors import PersonalDataError
from firmware.protocol.mqtt.status import DeviceStatus
from firmware.protocol.mqtt.privacy import find_personal_data
from tests.fleet.harness import wait_until

A = "dr-unit-a"
TELEMETRY_KEYS = {"v", "device", "branch", "ts", "disk", "backlog", "cpu_temp_c", "clock",
                  "firmware", "chain", "health", "flags", "outbox"}


def retained(operator, leaf: str) -> dict:
    """The retained payload of ``leaf`` of unit A ({} when there is none)."""
    msgs, complete = operator.retained([topics.device_topic(A, leaf)])
    assert complete and len(msgs) <= 1, msgs
    return json.loads(msgs[0].payload) if msgs else {}


def test_state_and_telemetry_are_retained_and_carry_no_personal_fields(make_agent, hooks,
                                                                         operator):
    agent = make_agent(hooks)
    wait_until(lambda: retained(operator, topics.TELEMETRY), what="telemetry")
    state = retained(operator, topics.STATE)
    assert (state["state"], state["online"], state["branch"]) == ("idle", True, "0451")
    telemetry = retained(operator, topics.TELEMETRY)
    assert set(telemetry) == TELEMETRY_KEYS
    assert telemetry["chain"] == {"seq": 7, "hash": "ab" * 32}
    assert telemetry["health"] == {"camera": "ok", "microphone": "ok", "pad": "missing"}
    assert find_personal_data(state) is None and find_personal_data(telemetry) is None

    hooks.state = DeviceStatus("recording", "session 20240501T081500Z-3fa2c1")
    agent.notify_state()
    wait_until(lambda: retained(operator, topics.STATE).get("state") == "recording")


def test_telemetry_with_personal_data_is_not_published(make_agent, hooks, operator):
    hooks.snapshot_extra = {"flags": ("customer 13812345678 waiting",)}
    make_agent(hooks)
    wait_until(lambda: any(isinstance(e, PersonalDataError) for e in make_agent.errors),
               what="the refusal")
    msgs, _ = operator.retained([topics.device_topic(A, topics.TELEMETRY)])
    assert msgs == []


def test_every_checkpoint_is_published(make_agent, hooks, operator, tmp_path, device_key,
                                       clock):
    from firmware.evidence.store import Evidence
    agent = make_agent(hooks)
    with Evidence.open(tmp_path / "spool", device_key, clock, device_id=A, checkpoint_every=5,
                       on_record=agent.on_record) as ev:
        for _ in range(12):
            ev.event("press", {"button": "NEXT"})
        head = ev.ledger.checkpoint()
    operator.subscribe([topics.device_topic(A, topics.CHECKPOINTS)])
    # what was sent before we subscribed is in the retained latest; from here on, the stream
    wait_until(lambda: retained(operator, topics.CHECKPOINT).get("seq") == head.seq,
               what=f"checkpoint {head.seq} ({make_agent.errors})")
    latest = retained(operator, topics.CHECKPOINT)
    assert latest["hash"] == head.hash and latest["line"] == head.witness()["line"]
    assert len(agent.outbox) == 0


@pytest.mark.parametrize("command, args, hook, expect", [
    ("ping", {}, None, {"pong": True}),
    ("locate", {"seconds": 5}, ("locate", (5.0,)), {"seconds": 5}),
    ("sync-now", {}, ("sync_now", ()), {"sync": "started", "backlog": {
        "count": 2, "bytes": 10, "oldest_age_s": 1.5, "sync": "on"}}),
    ("fetch-logs", {"lines": 10}, ("fetch_logs", (10, "current")),
     {"lines": 2, "truncated": False, "text": "line one\nline two\n", "run": "current",
      "source": "process", "note": ""}),
    ("fetch-logs", {"lines": 10, "run": "previous"}, ("fetch_logs", (10, "previous")),
     {"lines": 2, "truncated": False, "text": "previous run\nwatchdog timeout\n",
      "run": "previous", "source": "journal", "note": ""}),
    ("restart", {}, ("restart", (False,)), {"accepted": True, "force": False}),
    ("reboot", {"force": True}, ("reboot", (True,)), {"accepted": True, "force": True}),
])
def test_each_command_round_trips(make_agent, hooks, operator, command, args, hook, expect):
    make_agent(hooks)
    answer = operator.request([A], command, args, cmd_id=f"t-{command}", timeout=5)[A]
    assert answer["ok"], answer
    assert (answer["id"], answer["command"], answer["device"]) == (f"t-{command}", command, A)
    assert answer["result"] == expect
    if hook:
        wait_until(lambda: hooks.called(hook[0]) == [hook[1]], what=hook[0])


def test_status_and_verify(make_agent, hooks, operator):
    make_agent(hooks)
    status = operator.request([A], "status", timeout=5)[A]["result"]
    assert status["state"] == "idle" and status["telemetry"]["chain"]["seq"] == 7
    assert status["agent"]["connected"] is True and status["agent"]["outbox"] == 0
    verify = operator.request([A], "verify", timeout=5)[A]["result"]
    assert verify["ok"] is True and verify["head_seq"] == 12 and verify["sessions"] == 1


def test_logs_are_redacted(make_agent, hooks, operator):
    hooks.logs = "paired pad for 13812345678\n"
    make_agent(hooks)
    text = operator.request([A], "fetch-logs", timeout=5)[A]["result"]["text"]
    assert text == "paired pad for [redacted]\n"


def test_a_repeated_id_is_answered_again_not_run_again_even_after_a_restart(
        make_agent, hooks, operator):
    agent = make_agent(hooks)
    first = operator.request([A], "locate", {"seconds": 3}, cmd_id="loc-1", timeout=5)[A]
    again = operator.request([A], "locate", {"seconds": 3}, cmd_id="loc-1", timeout=5)[A]
    assert first["ok"] and again["repeat"] is True and again["result"] == first["result"]
    agent.stop()
    make_agent(hooks)      # the same state directory: the cache is on disk
    third = operator.request([A], "locate", {"seconds": 3}, cmd_id="loc-1", timeout=5)[A]
    assert third["repeat"] is True
    assert hooks.called("locate") == [(3.0,)]


def test_restart_waits_for_the_session_to_end_unless_forced(make_agent, hooks, operator):
    hooks.recording = True
    agent = make_agent(hooks)
    answer = operator.request([A], "restart", cmd_id="r-1", timeout=5)[A]
    assert answer["result"]["deferred"] is True and "force" in answer["result"]["reason"]
    time.sleep(0.3)
    assert hooks.called("restart") == []
    operator.subscribe([topics.device_topic(A, topics.EVENTS)])
    hooks.recording = False
    wait_until(lambda: hooks.called("restart") == [(False,)], what="the deferred restart")
    events = []
    operator.follow([topics.device_topic(A, topics.EVENTS)],
                    lambda m: events.append(json.loads(m.payload)) or False, duration=5)
    assert events[0]["kind"] == "restart"
    assert events[0]["data"] == {"command_id": "r-1", "deferred": True, "force": False}
    forced = operator.request([A], "reboot", {"force": True}, timeout=5)[A]
    assert forced["result"] == {"accepted": True, "force": True}
    wait_until(lambda: hooks.called("reboot") == [(True,)])
    assert len(agent.outbox) == 0


def test_set_config_applies_reports_and_rejects_with_reasons(make_agent, hooks, operator):
    make_agent(hooks)
    desired = {"mqtt": {"telemetry_interval_s": 30.0}}
    ok = operator.request([A], "set-config", {"version": 4, "desired": desired}, timeout=5)[A]
    assert ok["ok"] and ok["result"]["version"] == 4
    assert hooks.called("apply_config") == [(desired, 4)]
    wait_until(lambda: retained(operator, topics.CONFIG_REPORTED).get("version") == 4)
    bad = operator.request([A], "set-config", {"version": 5, "desired": {
        "mqtt": {"telemetry_interval_s": 1e9}}}, timeout=5)[A]
    assert bad["error"]["code"] == "rejected" \
        and "telemetry_interval_s" in bad["error"]["message"]
    wait_until(lambda: (retained(operator, topics.CONFIG_REPORTED).get("last_rejection") or {})
               .get("version") == 5)
    # the retained desired topic (a unit that was offline picks it up when it connects)
    operator.publish(topics.device_topic(A, topics.CONFIG_DESIRED), json.dumps(
        {"v": 1, "version": 6, "desired": {"sync": {"workers": 2}}}).encode(),
        retain=True)
    wait_until(lambda: retained(operator, topics.CONFIG_REPORTED).get("version") == 6)
    assert len(hooks.called("apply_config")) == 2


@pytest.mark.parametrize("body, code", [
    (b"x" * 20000, "oversized"),
    (b"{not json", "malformed"),
    (b'{"v":1,"id":"u-1","command":"self-destruct"}', "unknown_command"),
    (b'{"v":1,"id":"u-2","command":"reboot","args":{"force":"yes"}}', "bad_args"),
])
def test_refused_requests_get_an_error_and_change_nothing(make_agent, hooks, operator, body,
                                                          code):
    agent = make_agent(hooks)
    answer = operator.send([A], body, timeout=5)[A]
    assert answer["ok"] is False and answer["error"]["code"] == code
    assert hooks.acting_calls() == []
    assert not (agent.settings.fleet_dir / "commands.json").exists()


def test_a_slow_command_does_not_hold_up_ping(make_agent, hooks, operator):
    slow = hooks.verify

    def verify():
        time.sleep(1.5)
        return slow()
    hooks.verify = verify
    make_agent(hooks)
    body = json.dumps({"v": 1, "id": "slow-1", "command": "verify"}).encode()
    operator.publish(topics.device_topic(A, topics.CMD), body)
    start = time.monotonic()
    assert operator.request([A], "ping", timeout=5)[A]["ok"]
    assert time.monotonic() - start < 1.0
    busy = operator.send([A], body, timeout=5)[A]       # the same id, still running
    assert busy["error"]["code"] == "in_progress"


def test_a_failing_hook_answers_failed_and_is_reported(make_agent, hooks, operator):
    hooks.fail["sync_now"] = RuntimeError("uploader not running")
    make_agent(hooks)
    answer = operator.request([A], "sync-now", timeout=5)[A]
    assert answer["error"] == {"code": "failed",
                               "message": "RuntimeError: uploader not running"}
    assert any("uploader not running" in str(e) for e in make_agent.errors)


def test_hooks_must_implement_the_interface(make_agent, tmp_path):
    from firmware.unit.fleet.agent import FleetAgent

    class Half:
        def current_state(self):
            return DeviceStatus("idle")
    with pytest.raises(TypeError, match="telemetry, is_recording"):
        FleetAgent(make_agent.settings(), Half(), environ={})
