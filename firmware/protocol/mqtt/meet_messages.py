"""The remote meeting's payloads (:mod:`firmware.protocol.mqtt.meet` has the topics and the
checks): one dataclass per message, ``read(dict)`` validates every field (unknown fields are
refused), ``as_payload()`` writes it. docs/asyncapi/dualrec-meet-v1.yaml is the same in JSON
Schema; a test holds the two equal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from firmware.protocol.mqtt.meet import (BYE_REASONS, CODE, HEX32, HEX64, INITIAL, JOIN_STEPS,
                                         MAX_CANDIDATE, MAX_ICE_SERVERS, MAX_SDP, MAX_SEATS,
                                         MEETING_ID, NOTICE_KINDS, PARTY_ID, REFUSALS,
                                         REQUEST_ID, ROLES, SIGNAL_KINDS, STATUSES, TICKET_ID,
                                         TIMESTAMP, TOKEN, Fields, IceServer, MeetPayloadError,
                                         check_role, check_seat)
from firmware.protocol.mqtt.topics import DEVICE_ID

LABEL_LIMIT = 16


@dataclass(frozen=True)
class MeetingState:
    """``state`` (retained): whether new parties may join, and until when (``joins_until``:
    the code's expiry, UTC). Cleared (an empty retained message) when the meeting ends."""

    device: str
    meeting: str
    status: str
    joins_until: str
    ts: str

    @classmethod
    def read(cls, data: Any) -> "MeetingState":
        f = Fields(data)
        out = cls(f.text("device", DEVICE_ID), f.text("meeting", MEETING_ID),
                  f.word("status", STATUSES), f.text("joins_until", TIMESTAMP),
                  f.text("ts", TIMESTAMP))
        f.done()
        return out

    def as_payload(self) -> dict[str, Any]:
        return {"v": 1, "device": self.device, "meeting": self.meeting, "status": self.status,
                "joins_until": self.joins_until, "ts": self.ts}


@dataclass(frozen=True)
class MeetingNotice:
    """``notice``, to the back office only: ``opened`` carries the code (for the SMS), the
    ticket and which of its people are remote (``seats``: indexes of ``people``); ``locked``
    the wrong tries that locked it; ``expired`` and ``closed`` nothing more."""

    device: str
    meeting: str
    kind: str
    ts: str
    code: str = ""
    joins_until: str = ""
    ticket_id: str = ""
    application_hash: str = ""
    seats: tuple[int, ...] = ()
    tries: int = 0

    @classmethod
    def read(cls, data: Any) -> "MeetingNotice":
        f = Fields(data)
        device, meeting = f.text("device", DEVICE_ID), f.text("meeting", MEETING_ID)
        kind, ts = f.word("kind", NOTICE_KINDS), f.text("ts", TIMESTAMP)
        extra: dict[str, Any] = {}
        if kind == "opened":
            extra = dict(code=f.text("code", CODE), joins_until=f.text("joins_until", TIMESTAMP),
                         ticket_id=f.text("ticket_id", TICKET_ID),
                         application_hash=f.text("application_hash", HEX32),
                         seats=f.items("seats", MAX_SEATS, check_seat, unique=True))
        elif kind == "locked":
            extra = dict(tries=f.number("tries", 1, 1000))
        f.done()
        return cls(device, meeting, kind, ts, **extra)

    def as_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": 1, "device": self.device, "meeting": self.meeting,
                               "kind": self.kind, "ts": self.ts}
        if self.kind == "opened":
            out.update(code=self.code, joins_until=self.joins_until, ticket_id=self.ticket_id,
                       application_hash=self.application_hash, seats=list(self.seats))
        elif self.kind == "locked":
            out["tries"] = self.tries
        return out


@dataclass(frozen=True)
class JoinRequest:
    """``join``, relay → unit. ``code``: is this the code? ``identify``: take ``seats`` with
    the ``grant`` a right code gave, proving the name and ID digits (``proof``,
    :func:`~firmware.protocol.mqtt.meet.identity_proof`); ``resume``: come back with the
    party's ``token``. ``ice``: TURN credentials the relay made for the unit's side."""

    request: str
    step: str
    code: str = ""
    grant: str = ""
    seats: tuple[int, ...] = ()
    proof: str = ""
    token: str = ""
    ice: tuple[IceServer, ...] = ()

    @classmethod
    def read(cls, data: Any) -> "JoinRequest":
        f = Fields(data)
        request, step = f.text("request", REQUEST_ID), f.word("step", JOIN_STEPS)
        extra: dict[str, Any] = {}
        if step == "code":
            extra["code"] = f.text("code", CODE)
        elif step == "identify":
            extra = dict(grant=f.text("grant", TOKEN),
                         seats=f.items("seats", MAX_SEATS, check_seat, unique=True),
                         proof=f.text("proof", HEX64))
        else:
            extra["token"] = f.text("token", TOKEN)
        if step != "code":
            extra["ice"] = f.items("ice", MAX_ICE_SERVERS, IceServer.read, required=False) or ()
        f.done()
        return cls(request, step, **extra)

    def as_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": 1, "request": self.request, "step": self.step}
        if self.step == "code":
            out["code"] = self.code
        elif self.step == "identify":
            out.update(grant=self.grant, seats=list(self.seats), proof=self.proof)
        else:
            out["token"] = self.token
        if self.ice and self.step != "code":
            out["ice"] = [s.as_dict() for s in self.ice]
        return out


@dataclass(frozen=True)
class SeatChoice:
    """A seat a party may take: one remote person of the ticket in one role, shown by role
    label and masked initial (``王*``) only."""

    seat: int
    role: str
    label: str
    initial: str

    @classmethod
    def read(cls, data: Any, where: str) -> "SeatChoice":
        f = Fields(data, where)
        out = cls(f.number("seat", 0, MAX_SEATS - 1), f.word("role", ROLES),
                  f.text("label", limit=LABEL_LIMIT), f.text("initial", INITIAL, limit=4))
        f.done()
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"seat": self.seat, "role": self.role, "label": self.label,
                "initial": self.initial}


@dataclass(frozen=True)
class JoinAnswer:
    """``answer``, unit → relays, for the request ``request``. Refused: ``reason`` (and
    ``tries_left`` after a wrong try). A right code: a one-time ``grant`` and the ``choices``
    still free. Admitted (identify, resume): the ``party``, its resume ``token``, its
    ``seats`` and ``roles``."""

    request: str
    step: str
    ok: bool
    reason: str = ""
    tries_left: int | None = None
    grant: str = ""
    choices: tuple[SeatChoice, ...] = ()
    party: str = ""
    token: str = ""
    seats: tuple[int, ...] = ()
    roles: tuple[str, ...] = field(default=())

    @classmethod
    def read(cls, data: Any) -> "JoinAnswer":
        f = Fields(data)
        request, step, ok = f.text("request", REQUEST_ID), f.word("step", JOIN_STEPS), \
            f.flag("ok")
        extra: dict[str, Any] = {}
        if not ok:
            extra = dict(reason=f.word("reason", REFUSALS),
                         tries_left=f.number("tries_left", 0, 1000, required=False))
        elif step == "code":
            extra = dict(grant=f.text("grant", TOKEN),
                         choices=f.items("choices", MAX_SEATS, SeatChoice.read))
        else:
            extra = dict(party=f.text("party", PARTY_ID), token=f.text("token", TOKEN),
                         seats=f.items("seats", MAX_SEATS, check_seat, unique=True),
                         roles=f.items("roles", MAX_SEATS, check_role))
        f.done()
        return cls(request, step, ok, **extra)

    def as_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": 1, "request": self.request, "step": self.step,
                               "ok": self.ok}
        if not self.ok:
            out["reason"] = self.reason
            if self.tries_left is not None:
                out["tries_left"] = self.tries_left
        elif self.step == "code":
            out.update(grant=self.grant, choices=[c.as_dict() for c in self.choices])
        else:
            out.update(party=self.party, token=self.token, seats=list(self.seats),
                       roles=list(self.roles))
        return out


def read_signal(data: Any, *, envelope: bool = True) -> dict[str, Any]:
    """A signalling message, checked: ``offer``/``answer`` (``sdp``), ``candidate``
    (``candidate`` — "" ends the candidates —, ``sdpMid``, ``sdpMLineIndex``) or ``bye``
    (``reason``). ``envelope``: with ``v`` and ``party`` (on MQTT); without, as the media
    side and the browser speak it. Returns a new dict holding only the checked fields."""
    f = Fields(data, versioned=envelope)
    out: dict[str, Any] = {}
    if envelope:
        out["party"] = f.text("party", PARTY_ID)
    kind = out["kind"] = f.word("kind", SIGNAL_KINDS)
    if kind in ("offer", "answer"):
        sdp = f.text("sdp", limit=MAX_SDP)
        if not sdp.startswith("v=0"):
            raise MeetPayloadError("$.sdp", "must be an SDP session description (v=0 ...)")
        out["sdp"] = sdp
    elif kind == "candidate":
        out["candidate"] = f.text("candidate", limit=MAX_CANDIDATE, empty=True)
        if out["candidate"] and not out["candidate"].startswith("candidate:"):
            raise MeetPayloadError("$.candidate", "must be an ICE candidate line or \"\"")
        out["sdpMid"] = f.text("sdpMid", limit=32, required=False)
        out["sdpMLineIndex"] = f.number("sdpMLineIndex", 0, 31, required=False, null=True)
    else:
        out["reason"] = f.word("reason", BYE_REASONS, required=False) or "hangup"
    f.done()
    if envelope:
        out["v"] = 1
    return out


def signal_payload(party: str, message: dict[str, Any]) -> dict[str, Any]:
    """``message`` (no envelope) checked and wrapped for MQTT."""
    checked = read_signal(message, envelope=False)
    payload = {"v": 1, "party": party, **checked}
    return read_signal(payload)
