"""The unit's checks on a 双录 ticket: signature, time, place, and once only.

:class:`TicketChecker` holds what the unit trusts (the sales system's public keys, from its
configuration like the back-office key), where it stands (:class:`UnitScope`) and its
register of used tickets. :meth:`TicketChecker.check` refuses a ticket with one reason code,
in this order: ``malformed`` (not a ticket, damaged, over a bound), ``forged`` (not signed
by a trusted key, or changed since), ``not_yet_valid`` / ``expired`` (on the unit's clock,
with :data:`CLOCK_SKEW` allowed before ``issued``), ``wrong_unit`` (another branch, outlet
or unit), ``reused`` (it already bound a session). :meth:`TicketChecker.bind` checks and then
records the ticket as used, as the session binds it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Sequence

from firmware.errors import ConfigError
from firmware.evidence.keys import PublicKey
from firmware.ticket.codec import decode_ticket
from firmware.ticket.errors import (EXPIRED, NOT_YET_VALID, REUSED, WRONG_UNIT, TicketRefused)
from firmware.ticket.model import Ticket
from firmware.ticket.used import UsedTickets

CLOCK_SKEW = dt.timedelta(minutes=5)
OK = "ok"
NO_CODE = "no_code"  # an image in which no QR code could be read


@dataclass(frozen=True)
class UnitScope:
    """Where this unit stands: its device id and its branch (``[device] id``, ``[branch]
    org`` and ``outlet`` of its configuration; empty when not configured)."""

    device_id: str
    org: str = ""
    outlet: str = ""


@dataclass(frozen=True)
class TicketResult:
    """What one look at a ticket came to: ``status`` is ``"ok"``, ``"no_code"`` (an image
    without a readable QR code) or a refusal reason; ``message`` in English (logs, chain),
    ``display`` in Chinese (the panel's display). ``ticket`` and ``signer`` are set when
    accepted."""

    status: str
    message: str
    display: str = ""
    ticket: Ticket | None = None
    signer: PublicKey | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    @classmethod
    def refused(cls, exc: TicketRefused) -> "TicketResult":
        return cls(exc.reason, exc.message, exc.display)

    def summary(self) -> dict[str, Any]:
        """For an EVENT record: the status, the message, and for an accepted ticket its
        summary (no personal data) and the signing key's fingerprint."""
        out: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.ticket is not None and self.signer is not None:
            out["ticket"] = self.ticket.summary()
            out["signer"] = self.signer.fingerprint
        return out


class TicketChecker:
    """Checks tickets for one unit. ``used`` None: reuse is not checked (a technician's
    ``dualrec ticket check`` away from the unit's state)."""

    def __init__(self, sales_keys: Sequence[PublicKey], unit: UnitScope | None,
                 used: UsedTickets | None = None, *,
                 clock_skew: dt.timedelta = CLOCK_SKEW) -> None:
        self.sales_keys = tuple(sales_keys)
        if not self.sales_keys:
            raise ConfigError("no sales-system public key is configured: the unit cannot "
                              "accept any ticket (set the sales system's key in the "
                              "configuration)")
        self.unit = unit
        self.used = used
        self.clock_skew = clock_skew

    def check(self, text: str, now: dt.datetime) -> tuple[Ticket, PublicKey]:
        """The ticket in the QR text ``text`` and its signer, if this unit may use it at
        ``now`` (an aware datetime); else :class:`TicketRefused`. Nothing is recorded."""
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime (with its UTC offset)")
        ticket, signer = decode_ticket(text, self.sales_keys)
        if now < ticket.issued - self.clock_skew:
            raise TicketRefused(NOT_YET_VALID, f"ticket issued at {ticket.issued.isoformat()}, "
                                f"after the unit's time {now.isoformat()}: check the unit's "
                                "clock")
        if now >= ticket.expires:
            raise TicketRefused(EXPIRED, f"ticket expired at {ticket.expires.isoformat()} "
                                f"(the unit's time is {now.isoformat()})")
        self._check_scope(ticket)
        if self.used is not None and self.used.is_used(ticket.ticket_id):
            raise TicketRefused(REUSED, f"ticket {ticket.ticket_id} already bound a session")
        return ticket, signer

    def bind(self, text: str, now: dt.datetime) -> tuple[Ticket, PublicKey]:
        """:meth:`check`, then record the ticket as used (on disk before returning), as a
        session binds it. Needs a register (``used``)."""
        if self.used is None:
            raise ValueError("binding a ticket needs the register of used tickets")
        ticket, signer = self.check(text, now)
        self.used.claim(ticket, now)
        return ticket, signer

    def result(self, text: str, now: dt.datetime, *, bind: bool = False) -> TicketResult:
        """:meth:`check` (or :meth:`bind`) as a :class:`TicketResult` instead of raising a
        refusal (errors of the register itself still raise)."""
        try:
            ticket, signer = self.bind(text, now) if bind else self.check(text, now)
        except TicketRefused as exc:
            return TicketResult.refused(exc)
        return TicketResult(OK, f"ticket {ticket.ticket_id} accepted "
                            f"(application {ticket.application_hash})",
                            "已识别双录二维码。", ticket, signer)

    def _check_scope(self, ticket: Ticket) -> None:
        scope, unit = ticket.scope, self.unit
        if unit is None:
            return
        if scope.devices and unit.device_id not in scope.devices:
            raise TicketRefused(WRONG_UNIT, f"ticket is for units {', '.join(scope.devices)}, "
                                f"not {unit.device_id}")
        if scope.org and scope.org != unit.org:
            raise TicketRefused(WRONG_UNIT, f"ticket is for branch {scope.org}, this unit is "
                                f"configured for {unit.org or 'no branch'}")
        if scope.outlet and scope.outlet != unit.outlet:
            raise TicketRefused(WRONG_UNIT, f"ticket is for outlet {scope.outlet}, this unit "
                                f"is configured for {unit.outlet or 'no outlet'}")
