"""Who must sign and who must read at a node, and where each of them is (issue 17).

A template node names the roles that act at it (``signers`` at a node that requires a
signature, ``readers`` at a reading node; docs/script-templates.md); without them, every
customer role of the sale. The sale's people (``people.json``: each customer in a role, and
whether they are remote) say where each of those is:

- the pad's signature at the counter is required iff a person holding a required signer role
  is at the counter; a remote party must sign on its phone iff it holds (by its seats) a person
  in a required signer role;
- the counter's reading is required iff a required reader is at the counter; a remote party
  must read iff it holds a required reader.

A session whose people are unknown (bound without ``people.json``: a development binding)
keeps the counter's duties: the pad and the counter's reading are required, and every admitted
party acts. :func:`node_duties` is the one place that decides; the flow (NEXT and the node's
records), the quality checks, the customer's screen and the remote parties' screens ask it.

On the chain, :meth:`NodeDuties.as_record` (in ``node_start`` and ``node_end``): ``signers``
and ``readers`` as lists of ``{role, where, seat, party}`` — the role, ``counter`` or
``remote``, the person's index in ``people.json``'s customers and, for a remote person whose
party has joined, the party's id. No name and no ID number.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from firmware.unit.session.script import ACTOR_ROLES, ScriptNode

if TYPE_CHECKING:
    from firmware.unit.session.parts import SessionContext

log = logging.getLogger(__name__)

COUNTER, REMOTE = "counter", "remote"
#: ``ctx.values`` key: the session's :class:`SalePerson` s (None: unknown), read once
SALE_PEOPLE = "sale_people"
MAX_PEOPLE_JSON = 256 * 1024      # people.json is a few kilobytes; larger is not read
MAX_CUSTOMERS = 64


@dataclass(frozen=True)
class SalePerson:
    """One customer of the sale in one role: ``seat`` is its index in ``people.json``'s
    customers (as the meeting's seats), ``remote`` whether they join from their phone."""

    seat: int
    role: str
    remote: bool


def sale_people(people_json: bytes | None) -> tuple[SalePerson, ...] | None:
    """The customers of ``people.json`` (docs/people.md), or None when there is none or it
    cannot be read (then nobody is known to be remote: the counter acts)."""
    if not people_json:
        return None
    if len(people_json) > MAX_PEOPLE_JSON:
        log.error("people.json is %d bytes, more than %d: the counter signs and reads at every "
                  "node", len(people_json), MAX_PEOPLE_JSON)
        return None
    try:
        customers = json.loads(people_json)["customers"]
        if not isinstance(customers, list) or not 0 < len(customers) <= MAX_CUSTOMERS:
            raise ValueError(f"customers must be a list of 1 to {MAX_CUSTOMERS}")
        people = []
        for seat, customer in enumerate(customers):
            role, remote = customer["role"], customer.get("remote", False)
            if role not in ACTOR_ROLES or not isinstance(remote, bool):
                raise ValueError(f"customers[{seat}]: role or remote is not valid")
            people.append(SalePerson(seat, role, remote))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.error("people.json cannot be read for who signs and reads (%s): the counter signs "
                  "and reads at every node", type(exc).__name__)
        return None
    return tuple(people)


def session_people(ctx: "SessionContext") -> tuple[SalePerson, ...] | None:
    """The session's people, read from its binding once and kept in ``ctx.values``."""
    if SALE_PEOPLE not in ctx.values:
        ctx.values[SALE_PEOPLE] = sale_people(ctx.binding.people_json)
    return ctx.values[SALE_PEOPLE]


def shows_documents(node: ScriptNode, ticket_documents: Sequence[str]) -> bool:
    """The node is a reading node with something to read (the template's or the ticket's)."""
    return node.kind == "documents" and bool(node.documents or ticket_documents)


@dataclass(frozen=True)
class Duty:
    """One person who must act: ``role`` (None when the sale's people are unknown), ``where``
    (``counter`` or ``remote``), ``seat`` (None: unknown) and the remote ``party`` holding it
    (None: at the counter, or not joined yet)."""

    role: str | None
    where: str
    seat: int | None = None
    party: str | None = None

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"where": self.where}
        if self.role is not None:
            record["role"] = self.role
        if self.seat is not None:
            record["seat"] = self.seat
        if self.party is not None:
            record["party"] = self.party
        return record


_UNKNOWN = (Duty(None, COUNTER),)


@dataclass(frozen=True)
class NodeDuties:
    """Who must sign and read at one node (see the module docstring). ``signs``/``reads``:
    the node takes signatures / shows documents at all. ``known``: the sale's people are
    known (else the counter and every party act)."""

    signs: bool
    reads: bool
    known: bool
    signers: tuple[Duty, ...] = ()
    readers: tuple[Duty, ...] = ()

    @property
    def counter_signs(self) -> bool:
        """The pad's signature at the counter is required."""
        return any(d.where == COUNTER for d in self.signers)

    @property
    def counter_reads(self) -> bool:
        """The counter's reading (its customer's screen) is required."""
        return any(d.where == COUNTER for d in self.readers)

    def party_signs(self, seats: Sequence[int]) -> bool:
        """A remote party holding ``seats`` must sign on its phone."""
        return self.signs and (not self.known or any(d.seat in seats for d in self.signers))

    def party_reads(self, seats: Sequence[int]) -> bool:
        """A remote party holding ``seats`` must read on its phone."""
        return self.reads and (not self.known or any(d.seat in seats for d in self.readers))

    def as_record(self) -> dict[str, list[dict[str, Any]]]:
        """``signers`` at a signature node, ``readers`` at a reading node (empty: none)."""
        record = {}
        if self.signs:
            record["signers"] = [d.as_record() for d in self.signers]
        if self.reads:
            record["readers"] = [d.as_record() for d in self.readers]
        return record


def _duties(roles: tuple[str, ...] | None, people: tuple[SalePerson, ...],
            party_of: Mapping[int, str]) -> tuple[Duty, ...]:
    wanted = ACTOR_ROLES if roles is None else roles
    return tuple(Duty(p.role, REMOTE if p.remote else COUNTER, p.seat,
                      party_of.get(p.seat) if p.remote else None)
                 for p in people if p.role in wanted)


def node_duties(node: ScriptNode, people: tuple[SalePerson, ...] | None,
                parties: Mapping[str, Sequence[int]] | None = None, *,
                reads: bool | None = None) -> NodeDuties:
    """Who must act at ``node`` for the sale's ``people`` (None: unknown). ``parties``: the
    admitted remote parties and the seats each holds (for the records' ``party``); ``reads``:
    the node shows documents (default: it is of kind ``documents``; see
    :func:`shows_documents`)."""
    signs = "signature" in node.requires
    reads = node.kind == "documents" if reads is None else reads
    if people is None:
        return NodeDuties(signs, reads, False, _UNKNOWN if signs else (),
                          _UNKNOWN if reads else ())
    party_of = {seat: party for party, seats in (parties or {}).items() for seat in seats}
    return NodeDuties(signs, reads, True,
                      _duties(node.signers, people, party_of) if signs else (),
                      _duties(node.readers, people, party_of) if reads else ())
