"""The command envelope and arguments, and the desired/reported configuration (no broker)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.unit.fleet.commands import MAX_COMMAND_BYTES, SPECS, parse_command
from firmware.unit.fleet.desired_config import ConfigShadow, merge_patch
from firmware.unit.fleet.hooks import ConfigAnswer
from firmware.protocol.mqtt.errors import CommandError
from tests.fleet.harness import FakeHooks


def req(**fields) -> bytes:
    return json.dumps({"v": 1, "id": "c-1", "command": "ping", **fields}).encode()


def test_a_good_command_gets_its_defaults():
    cmd = parse_command(req(command="fetch-logs"))
    assert (cmd.id, cmd.name, cmd.args) == ("c-1", "fetch-logs", {"lines": 200,
                                                                  "run": "current"})
    assert parse_command(req(command="locate", args={"seconds": 2.5})).args == {"seconds": 2.5}


def test_unknown_top_level_fields_are_ignored():
    cmd = parse_command(req(command="locate", args={"seconds": 3}, sent_by="node-red",
                            trace={"span": "a1"}))
    assert (cmd.name, cmd.args) == ("locate", {"seconds": 3})


def test_the_fingerprint_is_the_request_not_its_spelling():
    a = parse_command(req(command="locate", args={"seconds": 30}))
    b = parse_command(req(command="locate"))               # the default is the same request
    c = parse_command(req(command="locate", args={"seconds": 31}))
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize("payload, code, fragment", [
    (b"x" * (MAX_COMMAND_BYTES + 1), "oversized", "16384"),
    (b"\xff\xfe", "malformed", "UTF-8"),
    (b"[1, 2]", "malformed", "object"),
    (req(v=2), "malformed", '"v"'),
    (req(v=True), "malformed", '"v"'),
    (req(id="has space"), "malformed", '"id"'),
    (req(command=7), "malformed", '"command"'),
    (req(command="format-disk"), "unknown_command", "format-disk"),
    (req(command="fetch-logs", args={"run": "yesterday"}), "bad_args", "current, previous"),
    (req(command="set-config", args={"version": 2, "desired": {}, "mode": "patch"}), "bad_args",
     "merge, replace"),
    (req(command="reboot", args={"force": 1}), "bad_args", "force must be bool"),
    (req(command="reboot", args={"now": True}), "bad_args", "'now'"),
    (req(command="locate", args={"seconds": 0}), "bad_args", "between"),
    (req(command="locate", args={"seconds": float("nan")}), "bad_args", "between"),
    (req(command="set-config", args={"version": 2}), "bad_args", "desired"),
    (req(command="fetch-logs", args=[]), "bad_args", "object"),
])
def test_refusals_say_why(payload, code, fragment):
    with pytest.raises(CommandError) as exc:
        parse_command(payload)
    assert exc.value.code == code
    assert fragment in exc.value.message


def test_refusal_keeps_what_it_could_read():
    with pytest.raises(CommandError) as exc:
        parse_command(req(command="reboot", args={"force": "yes"}))
    assert (exc.value.cmd_id, exc.value.command) == ("c-1", "reboot")
    with pytest.raises(CommandError) as exc:
        parse_command(req(command="format-disk"))
    assert (exc.value.code, exc.value.command) == ("unknown_command", "format-disk")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats()
                           | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                 st.builds(lambda c, a, i: json.dumps({"v": 1, "id": i, "command": c,
                                                       "args": a}).encode(),
                           st.sampled_from(sorted(SPECS)) | st.text(max_size=12),
                           json_values, st.text(max_size=70))))
def test_any_payload_parses_or_is_refused(payload):
    try:
        cmd = parse_command(payload)
    except CommandError as exc:
        assert exc.code in ("oversized", "malformed", "unknown_command", "bad_args")
        return
    assert cmd.name in SPECS and set(cmd.args) == set(SPECS[cmd.name].args)


def shadow(tmp_path) -> ConfigShadow:
    return ConfigShadow(tmp_path / "config.json", on_error=pytest.fail, device_id="dr-unit-a")


def test_set_config_applies_newer_versions_only(tmp_path):
    hooks = FakeHooks()
    s = shadow(tmp_path)
    desired = {"mqtt": {"telemetry_interval_s": 30.0}}
    first = s.apply(desired, 3, hooks)
    assert (first["version"], first["changed"], first["config"]) == (3, True, desired)
    assert s.apply(desired, 3, hooks)["changed"] is False     # the same again: no-op
    with pytest.raises(CommandError, match="older than the accepted version 3"):
        s.apply(desired, 2, hooks)
    with pytest.raises(CommandError, match="accepted already with other values"):
        s.apply({"mqtt": {"telemetry_interval_s": 40.0}}, 3, hooks)
    assert len(hooks.called("apply_config")) == 1
    reopened = shadow(tmp_path)
    assert reopened.version == 3 and reopened.reported["config"] == desired
    assert reopened.reported["last_rejection"]["version"] == 3


def test_set_config_is_a_merge_patch_unless_it_says_replace(tmp_path):
    hooks = FakeHooks()
    s = shadow(tmp_path)
    s.apply({"mqtt": {"telemetry_interval_s": 30.0}}, 1, hooks)
    later = s.apply({"sync": {"workers": 2}}, 2, hooks)       # the mqtt change stays
    assert later["config"] == {"mqtt": {"telemetry_interval_s": 30.0}, "sync": {"workers": 2}}
    removed = s.apply({"mqtt": {"telemetry_interval_s": None}}, 3, hooks)    # null removes
    assert removed["config"] == {"sync": {"workers": 2}}
    assert s.apply({"sync": None}, 4, hooks)["config"] == {}                 # a whole section
    s.apply({"sync": {"workers": 3}, "logging": {"level": "debug"}}, 5, hooks)
    replaced = s.apply({"logging": {"level": "info"}}, 6, hooks, mode="replace")
    assert replaced["config"] == {"logging": {"level": "info"}}
    assert s.apply({}, 7, hooks, mode="replace")["config"] == {}             # clears it
    assert [args[0] for args in hooks.called("apply_config")][-1] == {}


def test_merge_patch_follows_rfc_7386_on_two_levels():
    layer = {"a": {"x": 1, "y": 2}, "b": {"z": 3}}
    assert merge_patch(layer, {"a": {"x": None, "w": 4}}) == {"a": {"y": 2, "w": 4},
                                                               "b": {"z": 3}}
    assert merge_patch(layer, {"b": None}) == {"a": {"x": 1, "y": 2}}
    assert merge_patch(layer, {"a": {"x": None, "y": None}}) == {"b": {"z": 3}}
    assert layer == {"a": {"x": 1, "y": 2}, "b": {"z": 3}}     # not changed in place


@pytest.mark.parametrize("desired, why", [
    ({"mqtt": {"keepalive_s": 9999}}, "keepalive_s: must be between"),
    ({"recorder": {"fps": 30}}, "unknown key"),
    ({"nonsense": {}}, "unknown section"),
    ({"device": {"id": "dr-evil"}}, "[device] id: local setting: never changed remotely"),
    ({"spool": {"path": "/tmp/x"}}, "[spool] path: local setting: never changed remotely"),
    ({"recorder": {"segment_seconds": 2.0}}, "[recorder] segment_seconds: signed setting: "
     "only a configuration bundle signed by the back office"),
])
def test_set_config_rejections_say_why(tmp_path, desired, why):
    hooks = FakeHooks()
    with pytest.raises(CommandError) as exc:
        shadow(tmp_path).apply(desired, 1, hooks)
    assert exc.value.code == "rejected" and why in exc.value.message
    assert hooks.called("apply_config") == []


def test_the_unit_may_refuse_too(tmp_path):
    hooks = FakeHooks()
    hooks.config_answer = ConfigAnswer(False, "the disk is too small for that")
    with pytest.raises(CommandError, match="the unit refused it: the disk is too small"):
        shadow(tmp_path).apply({"sync": {"workers": 32}}, 1, hooks)


@pytest.mark.parametrize("payload, why", [
    (b"{not json", "config/desired is not {v: 1, version, desired}"),
    (b'[1]', "not a JSON object"),
    (b'{"v": 1, "version": "7", "desired": {}}', '"version" must be an integer'),
    (b'{"v": 1, "version": 7, "desired": [1]}', '"desired" must be an object'),
    (b'{"v": 2, "version": 7, "desired": {}}', '"v" must be 1'),
])
def test_a_malformed_retained_desired_is_rejected_with_the_reason(tmp_path, payload, why):
    hooks = FakeHooks()
    s = shadow(tmp_path)
    s.apply_retained(payload, hooks)
    rejection = s.reported["last_rejection"]
    assert rejection["kind"] == "config/desired" and why in rejection["reason"]
    assert hooks.called("apply_config") == []


def test_a_retained_desired_the_unit_has_or_older_is_left_alone(tmp_path):
    hooks = FakeHooks()
    s = shadow(tmp_path)
    s.apply({"sync": {"workers": 2}}, 5, hooks)
    for version in (4, 5):
        s.apply_retained(json.dumps({"v": 1, "version": version,
                                     "desired": {"sync": {"workers": 2}}}).encode(), hooks)
    s.apply_retained(b"", hooks)                       # cleared: nothing changes
    assert s.reported["last_rejection"] is None and len(hooks.called("apply_config")) == 1
    s.apply_retained(json.dumps({"v": 1, "version": 6, "desired": {"sync": {"workers": 3}},
                                 "sent_by": "node-red"}).encode(), hooks)
    assert s.version == 6 and s.reported["config"] == {"sync": {"workers": 3}}
