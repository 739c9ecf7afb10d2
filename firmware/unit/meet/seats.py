"""The seats of a meeting: the ticket's remote people, one seat per person and role.

A seat is the index of a person in the ticket's ``people`` (the same person in two roles is
two seats; one party may take both). What a party is shown of a seat is its role's label and
the masked initial (``王*``); what it must prove is the name and the last 4 characters of the
ID number (:func:`~firmware.protocol.mqtt.meet.identity_proof`), compared in constant time.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass

from firmware.people.customers import ROLE_LABELS
from firmware.protocol.mqtt.meet import identity_proof
from firmware.protocol.mqtt.meet_messages import SeatChoice
from firmware.ticket.model import Ticket
from firmware.unit.display.view import mask_name
from firmware.unit.meet.errors import MeetingError


@dataclass(frozen=True)
class Seat:
    index: int
    role: str
    name: str
    id_last4: str

    @property
    def choice(self) -> SeatChoice:
        return SeatChoice(self.index, self.role, ROLE_LABELS[self.role], mask_name(self.name))

    @property
    def person(self) -> tuple[str, str]:
        """Who sits here, for telling two seats of one person from two people."""
        return self.name, self.id_last4


def remote_seats(ticket: Ticket) -> tuple[Seat, ...]:
    """The seats of ``ticket``'s remote people; MeetingError when nobody is remote."""
    seats = tuple(Seat(i, p.customer.role, p.customer.name, p.customer.id_number[-4:].upper())
                  for i, p in enumerate(ticket.people) if p.remote)
    if not seats:
        raise MeetingError(f"ticket {ticket.ticket_id[:8]}: nobody is remote; a meeting needs "
                           "at least one person marked remote in the ticket")
    return seats


def proof_matches(grant: str, proof: str, seats: tuple[Seat, ...]) -> bool:
    """Whether ``proof`` is right for every one of ``seats`` (all compared, constant time
    each, so the time taken says nothing about which one failed)."""
    ok = bool(seats)
    for seat in seats:
        expected = identity_proof(grant, seat.name, seat.id_last4)
        ok = hmac.compare_digest(expected, proof) & ok
    return ok
