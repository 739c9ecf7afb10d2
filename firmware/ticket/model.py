"""The 双录 ticket: which sale a session records, issued and signed by the sales system.

A :class:`Ticket` names the application (投保单号), the insurer and the product's facts, the
customers in their roles (as ``docs/people.md``, checked by :mod:`firmware.people`) and who of
them is remote (not at the counter), the salesperson's staff id, the recording mode, where it
may be used (:class:`Scope`: a branch and/or units) and when (``issued`` .. ``expires``), and
a random ``ticket_id`` the unit records so each ticket binds one session only.

Its dict form (:meth:`Ticket.to_dict`, :meth:`Ticket.from_dict`) is what ``ticket issue``
reads from a spec file; what travels in the QR is the compact form of
:mod:`firmware.ticket.wire`. Both are checked by the same rules, every problem named at once.
Names and document numbers are personal data: no message here repeats them, and
:meth:`Ticket.summary` (for records, MQTT, the demo) holds none.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from firmware.people import fields
from firmware.people.customers import GUARDIAN, INSURED, POLICYHOLDER, Customer
from firmware.people.errors import FieldError
from firmware.people.people import APPLICATION_HASH_CONTEXT, People, check_application_number
from firmware.people.people import _check_roles as check_roles  # TODO(lead): make public
from firmware.people.salesperson import Salesperson
from firmware.ticket.documents import TicketDocument, ticket_documents
from firmware.ticket.problems import Problems
from firmware.ticket.product import Product, display_text

TICKET_FORMAT = "dualrec-ticket-v1"
MODES = ("av", "audio_photo")          # audio and video, or audio with photos
MAX_PEOPLE = 10
MAX_DEVICES = 50
MAX_LIFETIME = dt.timedelta(days=31)   # bounds how long the used-ticket register keeps an id
MAX_VALID_HOURS = 24 * 31
_TICKET_ID = re.compile(r"[0-9a-f]{16,32}")
_DEVICE_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")
_PERSON_KEYS = ("role", "name", "id_type", "id_number")
_PERSON_OPTIONAL = ("birth_date", "gender", "guardian_for", "remote")
_TICKET_KEYS = ("ticket_id", "application_number", "insurer", "product", "people",
                "staff_id", "mode", "scope", "issued", "expires")
_TICKET_OPTIONAL = ("format", "documents")


def new_ticket_id() -> str:
    """A fresh random ticket id: 16 bytes as 32 hex digits."""
    return secrets.token_hex(16)


def application_hash(application_number: str) -> str:
    """The pseudonym of an application number, as ``People.summary()`` has it: the first 32
    hex digits of SHA-256 over ``"dualrec-application-v1\\n" + number``. It lets the insurer
    match a session to a policy it knows; it does not hide a number that can be guessed."""
    return hashlib.sha256(f"{APPLICATION_HASH_CONTEXT}{application_number}".encode()) \
        .hexdigest()[:32]


def timestamp(value: Any, field: str) -> dt.datetime:
    """A moment written ISO 8601 with its UTC offset (``2025-06-15T18:00:00+08:00``), or an
    aware datetime; returned in UTC, to the whole second (the ticket carries seconds)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise FieldError(field, "must be a date and time written ISO 8601 with its UTC "
                             "offset, like 2025-06-15T18:00:00+08:00", value) from None
    if not isinstance(value, dt.datetime):
        raise FieldError(field, "must be a date and time with its UTC offset", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise FieldError(field, "needs its UTC offset (+08:00 for China Standard Time)",
                         value.isoformat())
    return value.astimezone(dt.timezone.utc).replace(microsecond=0)


@dataclass(frozen=True)
class Scope:
    """Where a ticket may be used: a branch (``org``, optionally narrowed to one ``outlet``)
    and/or a list of unit ``devices``; at least one of ``org`` and ``devices`` is given, so
    a ticket never works on every unit of the fleet. Codes as ``[branch]`` in the unit's
    configuration, device ids as ``[device] id``."""

    org: str = ""
    outlet: str = ""
    devices: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, where: str = "scope") -> "Scope":
        p = Problems(where)
        is_object = isinstance(data, Mapping)
        data = p.keys(data, where, (), ("org", "outlet", "devices"))
        org = p.field(f"{where}.org", lambda: fields.code(data["org"], f"{where}.org", 2, 32)) \
            if "org" in data else ""
        outlet = p.field(f"{where}.outlet", lambda: fields.code(
            data["outlet"], f"{where}.outlet", 2, 32)) if "outlet" in data else ""
        devices = p.field(f"{where}.devices", lambda: _devices(data["devices"],
                                                                f"{where}.devices")) \
            if "devices" in data else ()
        if is_object and "org" not in data and "devices" not in data:
            p.add(where, "must name the branch (org, optionally outlet) and/or the units "
                  "(devices) the ticket is for")
        if "outlet" in data and "org" not in data:
            p.add(f"{where}.outlet", "needs the org it belongs to (scope.org)")
        p.raise_if_any()
        return cls(org or "", outlet or "", devices or ())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.org:
            out["org"] = self.org
        if self.outlet:
            out["outlet"] = self.outlet
        if self.devices:
            out["devices"] = list(self.devices)
        return out


def _devices(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_DEVICES:
        raise FieldError(field, f"must be a list of 1 to {MAX_DEVICES} device ids")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not _DEVICE_ID.fullmatch(item):
            raise FieldError(f"{field}[{i}]", "must be a device id: 3-63 of a-z, 0-9, '-'",
                             item)
    if len(set(value)) != len(value):
        raise FieldError(field, "lists a device twice")
    return tuple(value)


@dataclass(frozen=True)
class TicketPerson:
    """A customer in one role, and whether they are remote (not at the counter; they join
    from their phone)."""

    customer: Customer
    remote: bool = False

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "TicketPerson":
        fields.exact_keys(data, where, _PERSON_KEYS, _PERSON_OPTIONAL)
        remote = data.get("remote", False)
        if not isinstance(remote, bool):
            raise FieldError(f"{where}.remote", "must be true or false", remote)
        customer = Customer.from_dict({k: v for k, v in data.items() if k != "remote"}, where)
        return cls(customer, remote)

    def to_dict(self) -> dict[str, Any]:
        out = self.customer.to_dict()
        if self.remote:
            out["remote"] = True
        return out


@dataclass(frozen=True)
class Ticket:
    """One sale, as the sales system issued it. Build it with :meth:`from_dict` (or
    :func:`ticket_from_spec`); every rule is checked there, all problems named at once."""

    ticket_id: str
    application_number: str
    insurer: str
    product: Product
    people: tuple[TicketPerson, ...]
    staff_id: str
    mode: str
    scope: Scope
    issued: dt.datetime
    expires: dt.datetime
    documents: tuple[TicketDocument, ...] = ()   # read at the reading nodes, after the template's

    @classmethod
    def from_dict(cls, data: Any, source: str = "ticket") -> "Ticket":
        p = Problems(source)
        data = p.keys(data, "", _TICKET_KEYS, _TICKET_OPTIONAL)
        if data.get("format", TICKET_FORMAT) != TICKET_FORMAT:
            p.add("format", f"must be {TICKET_FORMAT!r}")
        got: dict[str, Any] = {}

        def take(key: str, check: Any) -> None:
            if key in data:
                got[key] = p.field(key, lambda: check(data[key], key))
        take("ticket_id", _ticket_id)
        take("application_number", check_application_number)
        take("insurer", display_text)
        take("product", lambda v, k: Product.from_dict(v, k))
        take("people", _people)
        take("staff_id", fields.staff_id)
        take("mode", _mode)
        take("scope", lambda v, k: Scope.from_dict(v, k))
        take("issued", timestamp)
        take("expires", timestamp)
        take("documents", ticket_documents)
        issued, expires = got.get("issued"), got.get("expires")
        if issued and expires:
            if expires <= issued:
                p.add("expires", "must be after issued")
            elif expires - issued > MAX_LIFETIME:
                p.add("expires", f"must be at most {MAX_LIFETIME.days} days after issued")
        people = got.get("people")
        if people and issued:
            p.field("people", lambda: check_roles(tuple(x.customer for x in people),
                                                  issued.date()))
        p.raise_if_any()
        return cls(**got)

    def to_dict(self) -> dict[str, Any]:
        """The spec form (times ISO 8601 in UTC): personal data, never log or publish it."""
        out = {"format": TICKET_FORMAT, "ticket_id": self.ticket_id,
                "application_number": self.application_number, "insurer": self.insurer,
                "product": self.product.to_dict(),
                "people": [person.to_dict() for person in self.people],
                "staff_id": self.staff_id, "mode": self.mode, "scope": self.scope.to_dict(),
                "issued": self.issued.isoformat(), "expires": self.expires.isoformat()}
        if self.documents:
            out["documents"] = [doc.to_dict() for doc in self.documents]
        return out

    # -- what the session uses ----------------------------------------------------------------
    @property
    def customers(self) -> tuple[Customer, ...]:
        return tuple(person.customer for person in self.people)

    @property
    def policyholder(self) -> Customer:
        return next(c for c in self.customers if c.role == POLICYHOLDER)

    @property
    def remote_people(self) -> tuple[TicketPerson, ...]:
        """Those not at the counter (they join from their phones)."""
        return tuple(person for person in self.people if person.remote)

    @property
    def application_hash(self) -> str:
        return application_hash(self.application_number)

    def people_for(self, salesperson: Salesperson, session_date: dt.date) -> People:
        """The session's :class:`People`, the role rules checked again on ``session_date``
        (a minor insured may have come of age since the ticket was issued)."""
        return People.create(application_number=self.application_number,
                             salesperson=salesperson, customers=self.customers,
                             session_date=session_date, staff_id=self.staff_id)

    def summary(self) -> dict[str, Any]:
        """What may go on the chain, MQTT or the demo's summary: no name, no document number,
        no application number (only its hash); the documents' SHA-256s when it lists any."""
        roles = {role: sum(1 for c in self.customers if c.role == role)
                 for role in (POLICYHOLDER, INSURED, GUARDIAN)}
        out = {"ticket_id": self.ticket_id, "application_hash": self.application_hash,
                "product_kind": self.product.kind, "returns": self.product.returns,
                "mode": self.mode, "roles": roles, "remote": len(self.remote_people),
                "staff_id": self.staff_id, "issued": self.issued.isoformat(),
                "expires": self.expires.isoformat()}
        if self.documents:
            out["documents"] = [doc.sha256 for doc in self.documents]
        return out


def ticket_from_spec(spec: Mapping[str, Any], now: dt.datetime, *,
                     ticket_id: str | None = None, source: str = "ticket spec") -> Ticket:
    """The ticket a sales system issues from ``spec``: the ticket's dict form, where
    ``ticket_id`` may be left out (a random one is made), ``issued`` may be left out (``now``)
    and ``expires`` may be given as ``valid_hours`` (1 to 744) from ``issued`` instead."""
    if not isinstance(spec, Mapping):
        raise FieldError("spec", f"must be an object, not {type(spec).__name__}")
    data = dict(spec)
    problems = Problems(source)
    data.setdefault("ticket_id", ticket_id or new_ticket_id())
    data.setdefault("issued", timestamp(now, "now").isoformat())
    if "valid_hours" in data:
        hours = problems.field("valid_hours", lambda: fields.whole_number(
            data.pop("valid_hours"), "valid_hours", 1, MAX_VALID_HOURS))
        if "expires" in spec:
            problems.add("valid_hours", "give either expires or valid_hours, not both")
        issued = problems.field("issued", lambda: timestamp(data["issued"], "issued"))
        if hours is not None and issued is not None:
            data["expires"] = (issued + dt.timedelta(hours=hours)).isoformat()
    problems.raise_if_any()
    return Ticket.from_dict(data, source)


def _ticket_id(value: Any, field: str) -> str:
    value = fields.text(value, field)
    if not _TICKET_ID.fullmatch(value):
        raise FieldError(field, "must be 16 to 32 lowercase hex digits", value)
    if len(value) % 2:
        raise FieldError(field, "must be a whole number of bytes (an even count of hex "
                         "digits)", value)
    return value


def _mode(value: Any, field: str) -> str:
    if value not in MODES:
        raise FieldError(field, f"must be one of: {', '.join(MODES)}", value)
    return value


def _people(value: Any, field: str) -> tuple[TicketPerson, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PEOPLE:
        raise FieldError(field, f"must be a list of 1 to {MAX_PEOPLE} people")
    p = Problems(field)
    people = [p.field(f"{field}[{i}]", lambda item=item, i=i: TicketPerson.from_dict(
        item, f"{field}[{i}]")) for i, item in enumerate(value)]
    p.raise_if_any()
    return tuple(person for person in people if person is not None)
