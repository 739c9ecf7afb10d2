"""docs/mqtt.md's reference sections, written from the contract (docs/asyncapi/).

docs/mqtt.md keeps its prose by hand; each block between ``<!-- contract:NAME -->`` and
``<!-- /contract:NAME -->`` is generated here: the topic table, each payload's fields, every
event kind's data, every command's arguments and result, the error codes and the
enumerations. A test regenerates them and fails if the document differs, so the two cannot
drift.

    python -m firmware.protocol.mqtt.contract_doc --write docs/mqtt.md
    python -m firmware.protocol.mqtt.contract_doc --check docs/mqtt.md    # exit 1: stale
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

from firmware.protocol.mqtt.contract import Contract

BLOCK = re.compile(r"(<!-- contract:(?P<name>[A-Za-z_-]+) -->\n)(?P<body>.*?)"
                   r"(<!-- /contract:(?P=name) -->)", re.S)
COMMON = ("Version", "DeviceId", "Branch", "Timestamp", "SessionId", "CommandId", "Sha256", "Seq",
          "ConfigLayer", "SettingName", "Health")


def _code(values: list[Any]) -> str:
    return ", ".join(f"`{json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v}`"
                     for v in values)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


class Writer:
    def __init__(self, contract: Contract) -> None:
        self.c = contract

    # -- types ---------------------------------------------------------------------------------
    def linked(self, name: str | None) -> bool:
        """A named schema with its own section (common types, payloads): linked, not
        expanded."""
        return name is not None and (name in COMMON or name in self.payloads)

    @property
    def payloads(self) -> set[str]:
        return {self.c.payload_schema(m) for m in self.c.messages}

    def type_of(self, node: dict[str, Any]) -> str:
        name = self.c.ref_name(node)
        if name:
            return f"[{name}](#{name.lower()})" if self.linked(name) else self.type_of(
                self.c.schema(name))
        if node.get("type") == "null":
            return "null"
        for key in ("oneOf", "anyOf"):
            if key in node:
                return " or ".join(self.type_of(n) for n in node[key])
        if "const" in node:
            return f"always `{json.dumps(node['const'])}`"
        kinds = node.get("type", "any")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        parts = []
        for kind in kinds:
            if kind == "array":
                items = node.get("items", {})
                parts.append(f"array of {self.type_of(items)}" if items else "array")
            elif kind != "null":
                parts.append(kind)
        text = " or ".join(parts) or "null"
        if "enum" in node:
            text = "one of " + _code([v for v in node["enum"] if v is not None])
        if "minimum" in node and "maximum" in node:
            text += f" {node['minimum']}–{node['maximum']}"
        elif "minimum" in node:
            text += f" ≥ {node['minimum']}"
        if "null" in kinds or None in node.get("enum", []):
            text += " or null"
        if "default" in node:
            text += f" (default `{json.dumps(node['default'])}`)"
        return text

    def rows(self, node: dict[str, Any], prefix: str = "") -> list[tuple[str, str, str]]:
        node = self.c.resolve(node)
        out = []
        required = set(node.get("required", []))
        for name, prop in node.get("properties", {}).items():
            target = self.c.resolve(prop)
            path = prefix + name
            meaning = prop.get("description") or target.get("description", "")
            if name not in required:
                meaning = "(optional) " + meaning
            inline = not self.linked(self.c.ref_name(prop)) and "properties" in target
            out.append((f"`{path}`", "object" if inline else self.type_of(prop), meaning))
            if inline:
                out += self.rows(target, path + ".")
        return out

    def table(self, node: dict[str, Any], prefix: str = "") -> str:
        lines = ["| field | type | meaning |", "| --- | --- | --- |"]
        lines += [f"| {a} | {_cell(b)} | {_cell(c)} |" for a, b, c in self.rows(node, prefix)]
        return "\n".join(lines)

    def example(self, message: str, name: str | None = None) -> str:
        for ex in self.c.messages[message].get("examples", []):
            if name is None or ex["name"] == name:
                text = json.dumps(ex["payload"], ensure_ascii=False)
                return f"```json\n{text}\n```"
        return ""

    # -- blocks --------------------------------------------------------------------------------
    def topics(self) -> str:
        lines = ["| topic (under `dualrec/v1/devices/<device-id>/`) | direction | QoS | retained "
                 "| expiry | payload |", "| --- | --- | --- | --- | --- | --- |"]
        for key, channel in self.c.document["channels"].items():
            op = self.c.operation_for(key) or {}
            mqtt = op.get("bindings", {}).get("mqtt", {})
            leaf = channel["address"].split("{deviceId}/", 1)[1].replace("{suffix}", "<suffix>")
            who = "unit → fleet" if op.get("action") == "send" else "operators → unit"
            payloads = ", ".join(f"[{self.c.payload_schema(self.c.resolve(m)['name'])}]"
                                 f"(#{self.c.payload_schema(self.c.resolve(m)['name']).lower()})"
                                 for m in channel["messages"].values())
            expiry = f"{mqtt['messageExpiryInterval']} s" if "messageExpiryInterval" in mqtt \
                else "–"
            lines.append(f"| `{leaf}` | {who} | {mqtt.get('qos', '–')} | "
                         f"{'yes' if mqtt.get('retain') else 'no'} | {expiry} | {payloads} |")
        return "\n".join(lines)

    def common(self) -> str:
        lines = ["| type | JSON | rule |", "| --- | --- | --- |"]
        for name in COMMON:
            node = self.c.schema(name)
            rule = node.get("description", "")
            if "pattern" in node:
                rule += f" (`{node['pattern']}`)"
            kind = node.get("type")
            lines.append(f"| <a id=\"{name.lower()}\"></a>{name} | "
                         f"{_cell(kind if isinstance(kind, str) else ' or '.join(kind))} | "
                         f"{_cell(rule)} |")
        return "\n".join(lines)

    def payload(self, schema: str, message: str | None = None,
                example: str | None = None) -> str:
        parts = [f"<a id=\"{schema.lower()}\"></a>", self.table(self.c.schema(schema))]
        if message:
            parts.append(self.example(message, example))
        return "\n\n".join(p for p in parts if p)

    def events(self) -> str:
        out = [self.payload("Event", "event", "sessionEnded")]
        for name, schema, kinds in self.c.each_schema_with("event"):
            title = " / ".join(f"`{k}`" for k in kinds)
            out.append(f"#### {title}\n\n{schema.get('description', '')}\n\n"
                       + self.table(schema))
        return "\n\n".join(out)

    def commands(self) -> str:
        args, results = {}, {}
        for name, schema, commands in self.c.each_schema_with("command"):
            for command in commands:
                (args if name.endswith("Args") else results)[command] = schema
        out = []
        for command in self.c.enum("Request", "command"):
            block = [f"#### `{command}`"]
            result = results.get(command)
            if result is not None and result.get("description"):
                block.append(result["description"])
            if command in args and args[command].get("properties"):
                block.append("Arguments:\n\n" + self.table(args[command]))
            else:
                block.append("No arguments.")
            if result is not None:
                if "oneOf" in result:
                    block += ["Result, one of:"] + [self.table(b) for b in result["oneOf"]]
                else:
                    block.append("Result:\n\n" + self.table(result))
            out.append("\n\n".join(block))
        return "\n\n".join(out)

    def errors(self) -> str:
        node = self.c.schema("Error")["properties"]["code"]
        cached = set(node.get("x-cached", []))
        lines = ["| error code | meaning | answered again for a repeated id |",
                 "| --- | --- | --- |"]
        for code in node["enum"]:
            lines.append(f"| `{code}` | {_cell(node['x-descriptions'][code])} | "
                         f"{'yes' if code in cached else 'no'} |")
        return "\n".join(lines)

    def enums(self) -> str:
        rows = [("state", self.c.enum("State", "state")),
                ("telemetry `health`", self.c.schema("Health")["enum"]),
                ("telemetry `flags`", self.c.enum("Telemetry", "flags")),
                ("event `kind`", self.c.enum("Event", "kind")),
                ("`session_ended.ending`", self.c.enum("SessionEndedData", "ending")),
                ("`session_ended.findings`", self.c.enum("SessionEndedData", "findings")),
                ("`fault.part`", self.c.enum("FaultData", "part")),
                ("`fault.reason`", self.c.enum("FaultData", "reason")),
                ("`boot.previous.stop`", self.c.enum("BootData", "previous", "stop")),
                ("`record_refused.reason`", self.c.enum("RecordRefusedData", "reason")),
                ("command", self.c.enum("Request", "command")),
                ("error `code`", self.c.enum("Error", "code")),
                ("settings changed at once", self.c.enum("SetConfigResult", "applied_now"))]
        lines = ["| where | values |", "| --- | --- |"]
        lines += [f"| {where} | {_code([v for v in values if v is not None])} |"
                  for where, values in rows]
        return "\n".join(lines)


def blocks(contract: Contract) -> dict[str, Callable[[], str]]:
    w = Writer(contract)
    return {"topics": w.topics, "common": w.common,
            "state": lambda: w.payload("State", "state", "recording")
            + "\n\nThe Last Will (published by the broker):\n\n" + w.example("state", "lastWill"),
            "telemetry": lambda: w.payload("Telemetry", "telemetry"),
            "events": w.events, "checkpoint": lambda: w.payload("Checkpoint"),
            "request": lambda: w.payload("Request", "command", "locate"),
            "commands": w.commands,
            "response": lambda: w.payload("Response", "response", "ok")
            + "\n\n" + w.example("response", "rejected"),
            "errors": w.errors,
            "desired": lambda: w.payload("DesiredConfig", "desiredConfig"),
            "reported": lambda: w.payload("ReportedConfig"),
            "enums": w.enums}


def render(text: str, contract: Contract) -> str:
    """``text`` (docs/mqtt.md) with every generated block written afresh."""
    made = blocks(contract)

    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in made:
            raise KeyError(f"docs/mqtt.md asks for an unknown generated block {name!r}")
        return f"{m.group(1)}{made[name]()}\n{m.group(4)}"
    return BLOCK.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware.protocol.mqtt.contract_doc")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", metavar="MD", help="rewrite the generated blocks of MD")
    what.add_argument("--check", metavar="MD", help="exit 1 when MD's blocks are stale")
    args = parser.parse_args(argv)
    path = Path(args.write or args.check)
    text = path.read_text(encoding="utf-8")
    fresh = render(text, Contract.load())
    if args.write:
        path.write_text(fresh, encoding="utf-8")
        return 0
    if fresh != text:
        print(f"{path}: the generated sections differ from the contract; run "
              f"python -m firmware.protocol.mqtt.contract_doc --write {path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
