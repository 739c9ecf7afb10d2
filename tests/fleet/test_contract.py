"""The machine-readable contract itself: a valid AsyncAPI 3 document, examples that keep it, the
code's words and limits equal to its enumerations, and docs/mqtt.md written from it."""
from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest

from firmware.protocol.mqtt import topics, vocabulary
from firmware.protocol.mqtt.contract import CONTRACT_PATH, Contract
from firmware.protocol.mqtt.contract_doc import render
from firmware.unit.fleet import agent as agent_module
from firmware.unit.fleet import commands
from tests.fleet.asyncapi_specs import asyncapi_3_schema
from tests.fleet.contract_watch import closed_contract

REPO = Path(__file__).resolve().parents[2]
MQTT_MD = REPO / "docs" / "mqtt.md"


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract.load()


def test_the_contract_is_an_asyncapi_3_document(contract):
    meta = asyncapi_3_schema()
    errors = sorted(jsonschema.Draft7Validator(meta).iter_errors(contract.document),
                    key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:10]]


def test_every_reference_resolves_and_every_schema_is_draft_7(contract):
    jsonschema.Draft7Validator.check_schema(contract.schemas)
    text = CONTRACT_PATH.read_text()
    for ref in set(re.findall(r"\$ref: '([^']+)'", text)):
        assert contract.resolve({"$ref": ref}), ref
    for name in contract.schemas:
        contract.validator(name)          # builds (and resolves) without error


def test_every_example_keeps_the_closed_contract():
    closed = closed_contract()
    count = 0
    for name, message in closed.messages.items():
        for example in message.get("examples", []):
            problems = closed.schema_problems(closed.payload_schema(name), example["payload"])
            assert not problems, (name, example["name"], problems)
            count += 1
    assert count >= 10


def test_closed_means_an_undocumented_field_is_a_violation(contract):
    state = {"v": 1, "device": "dr-unit-a", "branch": "", "online": True, "state": "idle",
             "detail": "", "ts": "2024-05-01T08:15:00.123Z"}
    topic = topics.device_topic("dr-unit-a", topics.STATE)
    assert contract.problems(topic, {**state, "mood": "good"}) == []      # open for readers
    assert "mood" in " ".join(closed_contract().problems(topic, {**state, "mood": "good"}))
    assert closed_contract().problems(topic, {**state, "state": "sleeping"})
    assert closed_contract().problems(topics.device_topic("dr-unit-a", "secrets"), {})


@pytest.mark.parametrize("words, schema, path", [
    (vocabulary.STATES, "State", ("state",)),
    (vocabulary.HEALTH, "Health", ()),
    (vocabulary.EVENT_KINDS, "Event", ("kind",)),
    (vocabulary.SESSION_ENDINGS, "SessionEndedData", ("ending",)),
    (vocabulary.FINDINGS, "SessionEndedData", ("findings",)),
    (vocabulary.FAULT_PARTS, "FaultData", ("part",)),
    (vocabulary.FAULT_REASONS, "FaultData", ("reason",)),
    (vocabulary.SELFTEST_CHECKS, "SelftestData", ("failed",)),
    (vocabulary.PREVIOUS_STOPS, "BootData", ("previous", "stop")),
    (vocabulary.RECORD_REFUSALS, "RecordRefusedData", ("reason",)),
    (vocabulary.ERROR_CODES, "Error", ("code",)),
    (vocabulary.COMMANDS, "Request", ("command",)),
    (vocabulary.LOG_RUNS, "FetchLogsArgs", ("run",)),
    (vocabulary.LOG_SOURCES, "FetchLogsResult", ("source",)),
    (vocabulary.LIVE_SETTINGS, "SetConfigResult", ("applied_now",)),
    (vocabulary.LIVE_SETTINGS, "CapabilitiesResult", ("live_settings",)),
    (vocabulary.telemetry_flags(), "Telemetry", ("flags",)),
])
def test_the_codes_words_are_the_contracts(contract, words, schema, path):
    if path:
        found = contract.enum(schema, *path)
    else:
        found = contract.schema(schema)["enum"]
    assert [w for w in found if w is not None] == list(words)


def test_the_unit_speaks_what_the_contract_lists(contract):
    assert list(commands.SPECS) == list(vocabulary.COMMANDS)
    assert list(commands.ERROR_CODES) == list(vocabulary.ERROR_CODES)
    code = contract.schema("Error")["properties"]["code"]
    assert code["x-cached"] == list(vocabulary.CACHED_ERRORS)
    assert set(code["x-descriptions"]) == set(vocabulary.ERROR_CODES)
    assert agent_module.CONTRACT_VERSION == contract.version
    # the session checks (by name in the code, or by the documents' constants) and ticket
    # refusals the firmware can produce: each one in the contract, and nothing stale there
    named = set()
    for path in (REPO / "firmware" / "unit").rglob("*.py"):
        named |= set(re.findall(r'QualityFinding\(\s*"([a-z_]+)"', path.read_text()))
    from firmware.unit.understanding.documents import DOCUMENT_MISMATCH, ID_MISMATCH
    assert named | {ID_MISMATCH, DOCUMENT_MISMATCH} == set(vocabulary.FINDINGS)
    from firmware.ticket.errors import REASONS
    assert {f"ticket_{r}" for r in REASONS} <= set(vocabulary.RECORD_REFUSALS)
    # the self-test's checks: its own, and the extra ones the composition root gives it
    selftest = (REPO / "firmware" / "unit" / "session" / "selftest.py").read_text()
    checks = set(re.findall(r'checks\["([a-z_]+)"\]|"([a-z_]+)": \{"ok"', selftest))
    appliance = (REPO / "firmware" / "unit" / "appliance.py").read_text()
    extra = re.search(r"extra=\{([^}]*)\}", appliance)
    names = {n for pair in checks for n in pair if n}
    names |= set(re.findall(r'"([a-z_]+)":', extra.group(1))) if extra else set()
    assert names and names <= set(vocabulary.SELFTEST_CHECKS), names


def test_each_commands_arguments_are_the_contracts(contract):
    for name, spec in commands.SPECS.items():
        args = next((s for n, s, cs in contract.each_schema_with("command")
                     if n.endswith("Args") and name in cs), {"properties": {}})
        props = args["properties"]
        assert set(props) == set(spec.args), name
        for arg_name, arg in spec.args.items():
            p = props[arg_name]
            assert (arg.default is None) == (arg_name in args.get("required", [])), arg_name
            if arg.default is not None:
                assert p["default"] == arg.default, arg_name
            if arg.lo is not None:
                assert (p["minimum"], p["maximum"]) == (arg.lo, arg.hi), arg_name
            if arg.choices:
                assert p["enum"] == list(arg.choices), arg_name
            if arg.max_len is not None:
                assert (p["minLength"], p["maxLength"]) == (arg.min_len, arg.max_len), arg_name
    assert commands.MAX_COMMAND_BYTES == 16 * 1024


def test_every_topic_of_the_code_is_a_channel_and_the_reverse(contract):
    leaves = {topics.STATE, topics.TELEMETRY, topics.EVENTS, topics.CHECKPOINT,
              topics.CHECKPOINTS, topics.CMD, topics.CONFIG_DESIRED, topics.CONFIG_REPORTED}
    unit = "dr-unit-a"
    for leaf in leaves:
        assert contract.route(topics.device_topic(unit, leaf)), leaf
    assert contract.route(topics.response_topic(unit, "ops-1")).channel == "response"
    assert contract.route(topics.default_response_topic(unit)).channel == "defaultResponse"
    addresses = {c["address"].split("{deviceId}/", 1)[1]
                 for c in contract.document["channels"].values()}
    assert addresses == leaves | {"res/{suffix}", "res"}


def test_docs_mqtt_md_is_written_from_the_contract(contract):
    text = MQTT_MD.read_text(encoding="utf-8")
    assert render(text, contract) == text, (
        "docs/mqtt.md differs from the contract: run "
        "python -m firmware.protocol.mqtt.contract_doc --write docs/mqtt.md")
    blocks = re.findall(r"<!-- contract:([A-Za-z_-]+) -->", text)
    assert {"topics", "events", "commands", "errors", "enums", "reported"} <= set(blocks)


def test_a_stale_document_is_caught_and_rewritten(tmp_path):
    from firmware.protocol.mqtt.contract_doc import main
    stale = tmp_path / "mqtt.md"
    stale.write_text(MQTT_MD.read_text().replace("| `state` | unit → fleet | 1 | yes |",
                                                 "| `state` | unit → fleet | 0 | no |"))
    assert main(["--check", str(stale)]) == 1
    assert main(["--write", str(stale)]) == 0
    assert stale.read_text() == MQTT_MD.read_text()
