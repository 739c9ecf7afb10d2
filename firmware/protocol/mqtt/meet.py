"""The remote meeting's MQTT protocol (docs/meet.md, docs/asyncapi/dualrec-meet-v1.yaml): its
topics and payloads, shared by the unit's :mod:`firmware.unit.meet` and the relay
``dualrec-meet`` (:mod:`firmware.office.meet`).

One tree per meeting, ``dualrec/v1/meet/<device-id>/<meeting-id>/``: ``state`` (unit → relays,
retained), ``notice`` (unit → back office: the code, for the SMS; nobody else may read it),
``join`` (relays → unit) and ``answer`` (unit → relays), ``to-unit`` (relays → unit) and
``to-party/<party>`` (unit → relays): WebRTC signalling. The broker's ACL enforces who reads
and writes what (config/mosquitto/acl).

Every payload read here is bounded before it is parsed (:data:`MAX_PAYLOAD_BYTES`,
:data:`MAX_DEPTH`), refused with duplicate keys, NaN or unknown fields, and checked field by
field: :class:`MeetPayloadError` names the field and the rule, never the value (a value may
be a code or a name). Nothing malformed is ever acted upon.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from firmware.protocol.mqtt.errors import FleetError
from firmware.protocol.mqtt.topics import DEVICE_ID, PREFIX

MEET = f"{PREFIX}/meet"
MEET_CONTRACT_PATH = Path(__file__).resolve().parents[3] / "docs" / "asyncapi" / \
    "dualrec-meet-v1.yaml"
MEETING_ID = re.compile(r"[0-9a-f]{32}")
PARTY_ID = re.compile(r"p[1-9][0-9]?")
TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
CODE = re.compile(r"[0-9]{6}")
TICKET_ID = re.compile(r"[0-9a-f]{16,32}")
HEX64 = re.compile(r"[0-9a-f]{64}")
HEX32 = re.compile(r"[0-9a-f]{32}")
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
ICE_URL = re.compile(r"(stun|stuns|turn|turns):[A-Za-z0-9.\-\[\]:]{1,200}(\?transport=(udp|tcp))?")
INITIAL = re.compile(r"[^\s*]\*")

STATE, NOTICE, JOIN, ANSWER, TO_UNIT, TO_PARTY = ("state", "notice", "join", "answer",
                                                  "to-unit", "to-party")
LEAVES = (STATE, NOTICE, JOIN, ANSWER, TO_UNIT)

STATUSES = ("open", "locked", "closed")
NOTICE_KINDS = ("opened", "locked", "expired", "closed")
JOIN_STEPS = ("code", "identify", "resume")
REFUSALS = ("wrong_code", "identity_mismatch", "expired", "locked", "closed", "full",
            "seat_taken", "bad_grant", "bad_token", "malformed")
SIGNAL_KINDS = ("offer", "answer", "candidate", "bye")
BYE_REASONS = ("hangup", "closed", "replaced", "timeout", "error")
ROLES = ("policyholder", "insured", "guardian")

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_DEPTH = 4
MAX_SDP = 32 * 1024
MAX_CANDIDATE = 1024
MAX_SEATS = 10
MAX_ICE_SERVERS = 4
STATE_EXPIRY_FLOOR_S = 60
JOIN_EXPIRY_S = 30
SIGNAL_EXPIRY_S = 60
NOTICE_EXPIRY_S = 3600


class MeetPayloadError(FleetError, ValueError):
    """A meeting payload or topic breaks the protocol; ``field`` is its JSON path ($.sdp)."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


# -- topics ------------------------------------------------------------------------------------
def meeting_topic(device_id: str, meeting_id: str, leaf: str) -> str:
    if not DEVICE_ID.fullmatch(device_id) or not MEETING_ID.fullmatch(meeting_id):
        raise MeetPayloadError("topic", "needs a device id and a 32-hex-digit meeting id")
    if leaf not in LEAVES:
        raise MeetPayloadError("topic", f"leaf must be one of {', '.join(LEAVES)}")
    return f"{MEET}/{device_id}/{meeting_id}/{leaf}"


def party_topic(device_id: str, meeting_id: str, party: str) -> str:
    """Where the unit sends signalling to one party (relays subscribe while they serve it)."""
    if not PARTY_ID.fullmatch(party):
        raise MeetPayloadError("topic", "a party id is p1..p99")
    return meeting_topic(device_id, meeting_id, STATE).rsplit("/", 1)[0] + f"/{TO_PARTY}/{party}"


def parties_filter(device_id: str, meeting_id: str) -> str:
    """Every party's ``to-party`` topic of a meeting (a relay watches it from the start, so
    nothing the unit sends right after admitting a party is missed)."""
    return party_topic(device_id, meeting_id, "p1").rsplit("/", 1)[0] + "/+"


def state_filter(meeting_id: str) -> str:
    """What a relay subscribes to for the retained state of a meeting whose unit it does not
    know yet (the join link names only the meeting)."""
    if not MEETING_ID.fullmatch(meeting_id):
        raise MeetPayloadError("meeting", "must be 32 lowercase hex digits")
    return f"{MEET}/+/{meeting_id}/{STATE}"


@dataclass(frozen=True)
class MeetTopic:
    device: str
    meeting: str
    leaf: str
    party: str = ""


def parse_topic(topic: str) -> MeetTopic | None:
    """The parts of a meeting topic, or None for anything else (a malformed one too)."""
    parts = topic.split("/")
    if len(parts) not in (6, 7) or "/".join(parts[:3]) != MEET:
        return None
    device, meeting, leaf = parts[3], parts[4], parts[5]
    if not DEVICE_ID.fullmatch(device) or not MEETING_ID.fullmatch(meeting):
        return None
    if len(parts) == 7:
        return MeetTopic(device, meeting, TO_PARTY, parts[6]) \
            if leaf == TO_PARTY and PARTY_ID.fullmatch(parts[6]) else None
    return MeetTopic(device, meeting, leaf) if leaf in LEAVES else None


# -- bounded JSON --------------------------------------------------------------------------------
def _depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MeetPayloadError(f"$.{key}", "appears twice")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise MeetPayloadError("$", f"{name} is not JSON")


def decode(payload: bytes | str, limit: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """A JSON object from at most ``limit`` bytes of UTF-8, nested at most :data:`MAX_DEPTH`."""
    raw = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    if len(raw) > limit:
        raise MeetPayloadError("$", f"is {len(raw)} bytes; at most {limit}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MeetPayloadError("$", "is not UTF-8") from None
    if _depth(text) > MAX_DEPTH:
        raise MeetPayloadError("$", f"is nested deeper than {MAX_DEPTH}")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except ValueError as exc:
        if isinstance(exc, MeetPayloadError):
            raise
        raise MeetPayloadError("$", f"is not JSON ({exc.msg} at {exc.pos})"
                               if isinstance(exc, json.JSONDecodeError) else "is not JSON") \
            from None
    if not isinstance(value, dict):
        raise MeetPayloadError("$", "must be a JSON object")
    return value


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# -- field checks ----------------------------------------------------------------------------------
class Fields:
    """Reads one JSON object: each getter checks one field; :meth:`done` refuses the rest."""

    def __init__(self, data: Any, where: str = "$", *, versioned: bool | None = None) -> None:
        if not isinstance(data, dict):
            raise MeetPayloadError(where, "must be an object")
        versioned = where == "$" if versioned is None else versioned
        self.data, self.where, self.seen = data, where, {"v"} if versioned else set()
        if versioned and data.get("v") != 1:
            raise MeetPayloadError("$.v", "must be 1")

    def _get(self, key: str, required: bool) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                raise MeetPayloadError(f"{self.where}.{key}", "is required")
            return None
        return self.data[key]

    def text(self, key: str, pattern: re.Pattern[str] | None = None, *, limit: int = 256,
             required: bool = True, empty: bool = False) -> str | None:
        value = self._get(key, required)
        if value is None and not required:
            return None
        where = f"{self.where}.{key}"
        if not isinstance(value, str):
            raise MeetPayloadError(where, "must be text")
        if len(value) > limit or (not value and not empty):
            raise MeetPayloadError(where, f"must be 1 to {limit} characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise MeetPayloadError(where, f"must match {pattern.pattern}")
        return value

    def word(self, key: str, words: tuple[str, ...], *, required: bool = True) -> str | None:
        value = self._get(key, required)
        if value is None and not required:
            return None
        if value not in words:
            raise MeetPayloadError(f"{self.where}.{key}", f"must be one of {', '.join(words)}")
        return value

    def number(self, key: str, lo: int, hi: int, *, required: bool = True,
               null: bool = False) -> int | None:
        value = self._get(key, required)
        if value is None and (null or not required):
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise MeetPayloadError(f"{self.where}.{key}", f"must be a whole number {lo}-{hi}")
        return value

    def flag(self, key: str) -> bool:
        value = self._get(key, True)
        if not isinstance(value, bool):
            raise MeetPayloadError(f"{self.where}.{key}", "must be true or false")
        return value

    def items(self, key: str, limit: int, check: Callable[[Any, str], Any], *,
              required: bool = True, unique: bool = False) -> tuple[Any, ...] | None:
        value = self._get(key, required)
        if value is None and not required:
            return None
        where = f"{self.where}.{key}"
        if not isinstance(value, list) or not 1 <= len(value) <= limit:
            raise MeetPayloadError(where, f"must be a list of 1 to {limit}")
        out = tuple(check(item, f"{where}[{i}]") for i, item in enumerate(value))
        if unique and len(set(out)) != len(out):
            raise MeetPayloadError(where, "lists an item twice")
        return out

    def done(self) -> None:
        extra = sorted(set(self.data) - self.seen)
        if extra:
            raise MeetPayloadError(f"{self.where}.{extra[0]}", "is not a field of this message")


def check_seat(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < MAX_SEATS:
        raise MeetPayloadError(where, f"must be a seat number 0-{MAX_SEATS - 1}")
    return value


def check_role(value: Any, where: str) -> str:
    if value not in ROLES:
        raise MeetPayloadError(where, f"must be one of {', '.join(ROLES)}")
    return value


@dataclass(frozen=True)
class IceServer:
    """One ICE server as a browser's RTCIceServer: ``urls`` and optional TURN credentials."""

    urls: tuple[str, ...]
    username: str = ""
    credential: str = ""

    @classmethod
    def read(cls, value: Any, where: str) -> "IceServer":
        f = Fields(value, where)
        urls = f.items("urls", 4, lambda u, w: _text(u, w, ICE_URL, 256))
        username = f.text("username", limit=128, required=False) or ""
        credential = f.text("credential", limit=128, required=False) or ""
        f.done()
        return cls(urls, username, credential)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urls": list(self.urls)}
        if self.username:
            out.update(username=self.username, credential=self.credential)
        return out


def _text(value: Any, where: str, pattern: re.Pattern[str], limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit or not pattern.fullmatch(value):
        raise MeetPayloadError(where, f"must match {pattern.pattern}")
    return value


# -- the identity proof ------------------------------------------------------------------------------
def normal_name(name: str) -> str:
    """A name as compared: NFKC, spaces collapsed, Latin letters case-folded."""
    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


def identity_proof(grant: str, name: str, id_last4: str) -> str:
    """What the relay sends instead of the name and ID digits a party typed: HMAC-SHA256
    keyed by the one-time grant over the normalised name and the last 4 characters (X
    uppercase). The unit computes the same from the ticket and compares in constant time."""
    message = f"{normal_name(name)}\n{id_last4.strip().upper()}".encode("utf-8")
    return hmac.new(grant.encode("ascii"), message, hashlib.sha256).hexdigest()
