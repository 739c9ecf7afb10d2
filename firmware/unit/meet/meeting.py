"""The state of one open meeting, and the events and outcomes the host makes of it."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from firmware.ticket.model import Ticket
from firmware.unit.meet.seats import Seat
from firmware.unit.meet.signalling import BusSignalling, Signalling

GRANT_SECONDS = 300
MAX_GRANTS = 16
EVENT_KINDS = ("opened", "refused", "admitted", "resumed", "disconnected", "released", "locked",
               "expired", "ended")


@dataclass(frozen=True)
class MeetingEvent:
    """What happened, for the evidence chain: never the code, a name or an ID digit."""

    kind: str
    meeting: str
    party: str = ""
    seats: tuple[int, ...] = ()
    roles: tuple[str, ...] = ()
    reason: str = ""
    tries: int = 0


@dataclass(frozen=True)
class OpenedMeeting:
    meeting: str
    joins_until: str          # UTC, RFC 3339 (the unit's wall clock)
    seats: tuple[int, ...]


@dataclass
class Party:
    party: str
    seats: tuple[Seat, ...] = field(repr=False)
    token: str = field(repr=False)
    signalling: BusSignalling | None = None


@dataclass
class Meeting:
    id: str
    ticket: Ticket = field(repr=False)
    code: str = field(repr=False)           # never in a repr, a log line or an event
    seats: dict[int, Seat] = field(repr=False)
    joins_until_ns: int
    joins_until: str
    status: str = "open"
    wrong_tries: int = 0
    expired_told: bool = False
    grants: "OrderedDict[str, int]" = field(default_factory=OrderedDict, repr=False)
    parties: dict[str, Party] = field(default_factory=dict)

    def taken(self) -> set[int]:
        return {s.index for p in self.parties.values() for s in p.seats}


class Outcome:
    """What handling one message decided, done after the lock is released."""

    def __init__(self) -> None:
        self.publish: list[tuple[str, dict[str, Any] | None, bool, int]] = []
        self.events: list[MeetingEvent] = []
        self.admit: list[Signalling] = []
        self.replaced: list[tuple[BusSignalling, str]] = []   # hang up, why
