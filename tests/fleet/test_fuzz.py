"""Fuzzed command payloads through the real broker never crash the agent or change anything."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.unit.fleet.commands import SPECS

A = "dr-unit-a"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=16)


def shaped(name: str, args: dict, bogus: str, v, cmd_id: str) -> bytes:
    """A command that looks right but always carries an argument no command takes."""
    return json.dumps({"v": v, "id": cmd_id, "command": name,
                       "args": {**args, "zz-" + bogus: 1}}).encode()


payloads = st.one_of(
    st.binary(max_size=300),
    st.integers(16 * 1024 + 1, 20_000).map(lambda n: b'{"v":1,"id":"' + b"x" * n + b'"}'),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(shaped, st.sampled_from(sorted(SPECS)) | st.text(max_size=12),
              st.dictionaries(st.sampled_from(["force", "seconds", "lines", "version",
                                               "desired"]), json_values, max_size=3),
              st.text(max_size=6), st.sampled_from([1, 1, 2, "1", None, True]),
              st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True) | st.text(max_size=70)),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=payloads)
def test_fuzzed_payloads_are_refused_and_change_nothing(make_agent, hooks, operator, body):
    agent = make_agent.agents[0] if make_agent.agents else make_agent(hooks)
    answer = operator.send([A], body, timeout=5)[A]
    assert answer is not None, "no answer: the agent stopped answering"
    assert answer["ok"] is False
    assert answer["error"]["code"] in ("oversized", "malformed", "unknown_command", "bad_args")
    assert hooks.acting_calls() == []
    assert not (agent.settings.fleet_dir / "commands.json").exists()
    assert make_agent.errors == []


def test_still_answers_after_fuzzing(make_agent, hooks, operator):
    make_agent(hooks)
    for body in (b"\x00" * 10, b"[]", b'{"v":1}', b"{" * 5000):
        assert operator.send([A], body, timeout=5)[A]["ok"] is False
    assert operator.request([A], "ping", timeout=5)[A]["result"] == {"pong": True}
