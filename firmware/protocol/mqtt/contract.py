"""The fleet's machine-readable contract (``docs/asyncapi/dualrec-mqtt-v1.yaml``, AsyncAPI 3):
which message goes on which topic, with which QoS and retain flag, and each payload's JSON
Schema. Used by the tests that hold the unit to it, by ``dualrec-fleet watch --check``, and to
write docs/mqtt.md; the unit itself never loads it.

The schemas leave objects open, so an operator's tool built on them ignores fields a later
firmware adds. :meth:`Contract.closed` shuts every object that lists its properties: the unit's
own tests use that, so the unit publishes nothing the contract does not describe.

PyYAML and jsonschema are imported when a contract is loaded, not at import time.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from firmware.errors import ConfigError

CONTRACT_PATH = Path(__file__).resolve().parents[3] / "docs" / "asyncapi" / "dualrec-mqtt-v1.yaml"
BASE_URI = "urn:dualrec:mqtt:v1"
MAX_CONTRACT_BYTES = 1 << 20


class ContractError(ConfigError):
    """The contract file is missing or unreadable (the message names it and why)."""


@dataclass(frozen=True)
class Route:
    """Where a topic belongs: its channel, the messages that may go there, the parameters
    read from it (``deviceId``, ``suffix``), and the publishing operation's QoS and retain."""

    channel: str
    messages: tuple[str, ...]
    params: dict[str, str]
    qos: int | None
    retain: bool | None


def _is_object_schema(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind)


def _close(node: Any) -> None:
    """Every object schema that lists its properties and says nothing about others refuses
    others (in place)."""
    if isinstance(node, dict):
        if _is_object_schema(node) and "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close(value)
    elif isinstance(node, list):
        for value in node:
            _close(value)


class Contract:
    """One loaded contract document. ``closed=True``: objects refuse fields they do not list."""

    def __init__(self, document: dict[str, Any], *, closed: bool = False) -> None:
        if not isinstance(document, dict) or not str(document.get("asyncapi", "")).startswith("3."):
            raise ContractError("the contract is not an AsyncAPI 3 document")
        self.document = copy.deepcopy(document)
        self.is_closed = closed
        if closed:
            _close(self.document["components"]["schemas"])
        self._validators: dict[str, Any] = {}
        self._routes = [(key, self._address_pattern(channel), channel)
                        for key, channel in self.document["channels"].items()]

    @classmethod
    def load(cls, path: str | Path = CONTRACT_PATH, *, closed: bool = False) -> "Contract":
        import yaml
        path = Path(path)
        try:
            data = path.read_bytes()
            if len(data) > MAX_CONTRACT_BYTES:
                raise ContractError(f"{path}: larger than {MAX_CONTRACT_BYTES} bytes")
            document = yaml.safe_load(data.decode("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ContractError(f"{path}: cannot read the contract ({exc})") from None
        return cls(document, closed=closed)

    def closed(self) -> "Contract":
        """The same contract with every described object closed (for the unit's tests)."""
        return Contract(self.document, closed=True)

    # -- what the document says ----------------------------------------------------------------
    @property
    def version(self) -> str:
        return str(self.document["info"]["version"])

    @property
    def schemas(self) -> dict[str, Any]:
        return self.document["components"]["schemas"]

    @property
    def messages(self) -> dict[str, Any]:
        return self.document["components"]["messages"]

    def schema(self, name: str) -> dict[str, Any]:
        try:
            return self.schemas[name]
        except KeyError:
            raise KeyError(f"the contract has no schema {name!r}") from None

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """``node`` with a local ``$ref`` followed (any depth)."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ContractError(f"only local references are used, not {ref!r}")
            node = self.document
            for part in ref[2:].split("/"):
                node = node[part]
            seen += 1
            if seen > 32:
                raise ContractError(f"{ref}: a reference loop")
        return node

    def ref_name(self, node: dict[str, Any]) -> str | None:
        """The component schema a ``$ref`` names, or None."""
        ref = node.get("$ref", "") if isinstance(node, dict) else ""
        return ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None

    def enum(self, schema: str, *path: str) -> list[Any]:
        """The ``enum`` of ``schema``'s property at ``path`` (``items`` for an array)."""
        node = self.resolve(self.schema(schema))
        for part in path:
            node = self.resolve(node["properties"][part])
        if "items" in node:
            node = self.resolve(node["items"])
        return list(node["enum"])

    def payload_schema(self, message: str) -> str:
        """The component schema name of ``message``'s payload."""
        return self.ref_name(self.messages[message]["payload"]) or ""

    def operation_for(self, channel: str) -> dict[str, Any] | None:
        for op in self.document.get("operations", {}).values():
            if op["channel"]["$ref"] == f"#/channels/{channel}":
                return op
        return None

    def each_schema_with(self, marker: str) -> Iterator[tuple[str, dict[str, Any], list[str]]]:
        """``(name, schema, values)`` of each component schema carrying ``x-<marker>``."""
        for name, schema in self.schemas.items():
            value = schema.get(f"x-{marker}")
            if value is not None:
                yield name, schema, value if isinstance(value, list) else [value]

    # -- topics --------------------------------------------------------------------------------
    def _address_pattern(self, channel: dict[str, Any]) -> re.Pattern[str]:
        pattern, pos = "", 0
        address = channel["address"]
        for m in re.finditer(r"\{(\w+)\}", address):
            param = self.resolve(channel["parameters"][m.group(1)])
            inner = param.get("x-pattern", "^[^/]+$").lstrip("^").rstrip("$")
            pattern += re.escape(address[pos:m.start()]) + f"(?P<{m.group(1)}>{inner})"
            pos = m.end()
        return re.compile(pattern + re.escape(address[pos:]))

    def route(self, topic: str) -> Route | None:
        """The channel ``topic`` belongs to, or None when the contract has no such topic."""
        for key, pattern, channel in self._routes:
            m = pattern.fullmatch(topic)
            if m is None:
                continue
            messages = tuple(self.resolve(ref)["name"] for ref in channel["messages"].values())
            op = self.operation_for(key) or {}
            binding = op.get("bindings", {}).get("mqtt", {})
            return Route(key, messages, m.groupdict(), binding.get("qos"),
                         binding.get("retain"))
        return None

    # -- validating ----------------------------------------------------------------------------
    def validator(self, schema: str):
        """A jsonschema (draft 7) validator for the component schema ``schema``."""
        if schema not in self._validators:
            from jsonschema import Draft7Validator
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT7
            resource = Resource(contents=self.document, specification=DRAFT7)
            registry = Registry().with_resource(BASE_URI, resource)
            self.schema(schema)
            self._validators[schema] = Draft7Validator(
                {"$ref": f"{BASE_URI}#/components/schemas/{schema}"}, registry=registry)
        return self._validators[schema]

    def schema_problems(self, schema: str, payload: Any) -> list[str]:
        """What is wrong with ``payload`` as ``schema``, one line each (JSON path: why)."""
        errors = sorted(self.validator(schema).iter_errors(payload),
                        key=lambda e: [str(p) for p in e.absolute_path])
        return [f"$.{'.'.join(str(p) for p in e.absolute_path)}: {_deepest(e).message}"
                for e in errors]

    def problems(self, topic: str, payload: bytes | Any) -> list[str]:
        """What is wrong with a message on ``topic`` (empty: it keeps the contract). A payload
        given as bytes is parsed as UTF-8 JSON first."""
        route = self.route(topic)
        if route is None:
            return [f"{topic}: no such topic in the contract"]
        if isinstance(payload, (bytes, bytearray)):
            try:
                payload = json.loads(bytes(payload).decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                return [f"{topic}: not UTF-8 JSON ({exc})"]
        best: list[str] | None = None
        for message in route.messages:
            found = self.schema_problems(self.payload_schema(message), payload)
            if not found:
                return []
            best = found if best is None or len(found) < len(best) else best
        return [f"{topic}: {p}" for p in best or []]


def _deepest(error):
    """For ``oneOf``/``anyOf``/``allOf`` failures, the most specific sub-error."""
    while error.context:
        error = max(error.context, key=lambda e: len(list(e.absolute_path)))
    return error
