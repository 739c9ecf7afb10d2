"""The staff roster: who may sell at this unit's counter, as the back office lists them.

A roster lists staff members, each with a staff id, the number of their current badge, the
dates they may sell between, and their identity (one of the types in
:mod:`firmware.people.salesperson`). A roster is only ever used after its signature has been
checked (:mod:`firmware.people.signed_roster`); this module is its content and its look-ups.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterator

from firmware.evidence.keys import PublicKey
from firmware.people import fields
from firmware.people.errors import FieldError, StaffNotOnRoster, StaffNotValid
from firmware.people.salesperson import Salesperson, salesperson_from_dict

ROSTER_FORMAT = "dualrec-roster-v1"
BADGE_MAX = 999_999
SERIAL_MAX = 2**53 - 1   # exact in every JSON implementation


@dataclass(frozen=True)
class StaffEntry:
    """One staff member on the roster.

    ``badge`` is the number of the member's current badge: a badge with another number (lost,
    replaced) is refused. ``valid_from`` and ``valid_until`` are inclusive calendar dates.
    """

    staff_id: str
    badge: int
    valid_from: dt.date
    valid_until: dt.date
    identity: Salesperson

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "StaffEntry":
        fields.exact_keys(data, where, ("staff_id", "badge", "valid_from", "valid_until",
                                        "identity"))
        entry = cls(fields.staff_id(data["staff_id"], f"{where}.staff_id"),
                    fields.whole_number(data["badge"], f"{where}.badge", 1, BADGE_MAX),
                    fields.date(data["valid_from"], f"{where}.valid_from"),
                    fields.date(data["valid_until"], f"{where}.valid_until"),
                    salesperson_from_dict(data["identity"], f"{where}.identity"))
        if entry.valid_until < entry.valid_from:
            raise FieldError(f"{where}.valid_until", f"must not be before valid_from "
                             f"({entry.valid_from})", entry.valid_until.isoformat())
        return entry

    def to_dict(self) -> dict[str, Any]:
        return {"staff_id": self.staff_id, "badge": self.badge,
                "valid_from": self.valid_from.isoformat(),
                "valid_until": self.valid_until.isoformat(),
                "identity": self.identity.to_dict()}

    def valid_on(self, on: dt.date) -> bool:
        return self.valid_from <= on <= self.valid_until


@dataclass(frozen=True)
class Roster:
    """A checked roster. ``signer`` is the back-office key that signed it (None while it is
    being prepared for signing); the badges of its staff are signed by the same key."""

    issuer: str
    serial: int
    issued: dt.date
    expires: dt.date
    staff: tuple[StaffEntry, ...]
    signer: PublicKey | None = None

    @classmethod
    def from_body(cls, data: Any, signer: PublicKey | None = None) -> "Roster":
        """A roster from its body (the signed part); raises FieldError naming the key path."""
        fields.exact_keys(data, "roster", ("format", "issuer", "serial", "issued", "expires",
                                           "staff"))
        if data["format"] != ROSTER_FORMAT:
            raise FieldError("roster.format", f"must be {ROSTER_FORMAT!r}", data["format"])
        issuer = fields.text(data["issuer"], "roster.issuer")
        if not 1 <= len(issuer) <= 80 or issuer != issuer.strip():
            raise FieldError("roster.issuer", "must be 1 to 80 characters, no leading or "
                             "trailing space", issuer)
        serial = fields.whole_number(data["serial"], "roster.serial", 1, SERIAL_MAX)
        issued = fields.date(data["issued"], "roster.issued")
        expires = fields.date(data["expires"], "roster.expires")
        if expires < issued:
            raise FieldError("roster.expires", f"must not be before issued ({issued})",
                             expires.isoformat())
        if not isinstance(data["staff"], list):
            raise FieldError("roster.staff", "must be an array of staff entries")
        staff = tuple(StaffEntry.from_dict(item, f"roster.staff[{i}]")
                      for i, item in enumerate(data["staff"]))
        seen: set[str] = set()
        for i, entry in enumerate(staff):
            if entry.staff_id in seen:
                raise FieldError(f"roster.staff[{i}].staff_id", "is listed twice",
                                 entry.staff_id)
            seen.add(entry.staff_id)
        return cls(issuer, serial, issued, expires, staff, signer)

    def body(self) -> dict[str, Any]:
        """The signed part, as :meth:`from_body` reads it."""
        return {"format": ROSTER_FORMAT, "issuer": self.issuer, "serial": self.serial,
                "issued": self.issued.isoformat(), "expires": self.expires.isoformat(),
                "staff": [entry.to_dict() for entry in self.staff]}

    def __iter__(self) -> Iterator[StaffEntry]:
        return iter(self.staff)

    def __len__(self) -> int:
        return len(self.staff)

    def get(self, staff_id: str) -> StaffEntry | None:
        """The entry with ``staff_id``, whatever its dates, or None."""
        return next((e for e in self.staff if e.staff_id == staff_id), None)

    def lookup(self, staff_id: str, on_date: dt.date) -> StaffEntry:
        """The entry of a staff member who may sell on ``on_date``.

        Raises :class:`StaffNotOnRoster` for an unknown id and :class:`StaffNotValid` for a
        member outside their ``valid_from`` .. ``valid_until``.
        """
        entry = self.get(staff_id)
        if entry is None:
            raise StaffNotOnRoster(f"staff id {staff_id!r} is not on the roster "
                                   f"(serial {self.serial}, issued by {self.issuer})")
        if not entry.valid_on(on_date):
            when = "expired on" if on_date > entry.valid_until else "is valid only from"
            date = entry.valid_until if on_date > entry.valid_until else entry.valid_from
            raise StaffNotValid(f"staff id {staff_id!r} {when} {date.isoformat()} "
                                f"(today is {on_date.isoformat()}); the back office must "
                                "renew them on the roster")
        return entry
