"""The people of one session and the policy they are there for.

:class:`People` binds a salesperson, the customers in their roles and the application number
(投保单号) to a session. Its :meth:`People.to_json` is the content of the session's sealed
``people.json`` (personal data, encrypted at rest once encryption lands); its
:meth:`People.summary` is all that may go into record ``data`` or MQTT: roles, counts, the
elder flag and pseudonyms, never a name, a phone number or a document number.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

from firmware.evidence import canonical
from firmware.people import fields
from firmware.people.customers import (GUARDIAN, INSURED, POLICYHOLDER, Customer,
                                       customers_from_list)
from firmware.people.errors import FieldError, PeopleError, RoleError
from firmware.people.salesperson import Salesperson, salesperson_from_dict

PEOPLE_FORMAT = "dualrec-people-v1"
ADULT_AGE = 18
ELDER_AGE = 60
APPLICATION_HASH_CONTEXT = "dualrec-application-v1\n"
_APPLICATION_NUMBER = re.compile(r"[A-Za-z0-9]{6,32}")


def check_application_number(value: Any, field: str = "application_number") -> str:
    """The application number (投保单号): 6 to 32 ASCII letters and digits."""
    value = fields.text(value, field)
    if not _APPLICATION_NUMBER.fullmatch(value):
        raise FieldError(field, "must be 6 to 32 ASCII letters and digits (the 投保单号 as "
                         "printed on the application form)", value)
    return value


@dataclass(frozen=True)
class People:
    """Who is in one session, checked as a whole when made.

    ``session_date`` is the local calendar date of the session: ages (minor, elder) are
    counted on it. ``staff_id`` is the roster id the salesperson was bound by (badge or set-up
    command), or None when the identity was entered some other way.
    """

    application_number: str
    salesperson: Salesperson
    customers: tuple[Customer, ...]
    session_date: dt.date
    staff_id: str | None = None

    def __post_init__(self) -> None:
        check_application_number(self.application_number)
        object.__setattr__(self, "session_date", fields.date(self.session_date, "session_date"))
        if not isinstance(self.salesperson, Salesperson):
            raise FieldError("salesperson", "must be a bank_employee, insurer_agent or "
                             "intermediary_employee identity")
        if self.staff_id is not None:
            fields.staff_id(self.staff_id, "staff_id")
        object.__setattr__(self, "customers", tuple(self.customers))
        _check_roles(self.customers, self.session_date)

    @classmethod
    def create(cls, *, application_number: str, salesperson: Salesperson,
               customers: Iterable[Customer], session_date: dt.date,
               staff_id: str | None = None) -> "People":
        """The people of a session; raises FieldError or RoleError naming what is wrong."""
        return cls(application_number, salesperson, tuple(customers), session_date, staff_id)

    # -- by role -------------------------------------------------------------------------------
    @property
    def policyholder(self) -> Customer:
        return next(c for c in self.customers if c.role == POLICYHOLDER)

    @property
    def insured(self) -> tuple[Customer, ...]:
        return tuple(c for c in self.customers if c.role == INSURED)

    @property
    def guardians(self) -> tuple[Customer, ...]:
        return tuple(c for c in self.customers if c.role == GUARDIAN)

    def guardians_of(self, insured: Customer) -> tuple[Customer, ...]:
        return tuple(g for g in self.guardians if g.guardian_for == insured.id_number)

    @property
    def elder(self) -> bool:
        """Whether the session needs the elder variant, counted on ``session_date``."""
        return needs_elder_variant(self, self.session_date)

    # -- forms ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": PEOPLE_FORMAT, "application_number": self.application_number,
                "session_date": self.session_date.isoformat(), "staff_id": self.staff_id,
                "salesperson": self.salesperson.to_dict(),
                "customers": [c.to_dict() for c in self.customers]}

    def to_json(self) -> bytes:
        """The content of ``people.json``: canonical JSON (keys sorted, UTF-8), so the same
        people always give the same bytes. Personal data: never log or publish it."""
        return canonical.encode(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> "People":
        """People from the :meth:`to_dict` form (``format`` may be left out of hand-written
        input); every field and every role rule checked."""
        fields.exact_keys(data, "", ("application_number", "session_date", "salesperson",
                                     "customers"), ("format", "staff_id"))
        if data.get("format", PEOPLE_FORMAT) != PEOPLE_FORMAT:
            raise FieldError("format", f"must be {PEOPLE_FORMAT!r}", data.get("format"))
        return cls(check_application_number(data["application_number"]),
                   salesperson_from_dict(data["salesperson"]),
                   tuple(customers_from_list(data["customers"])),
                   fields.date(data["session_date"], "session_date"),
                   data.get("staff_id"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> "People":
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PeopleError(f"people.json is not JSON: {exc}") from None
        return cls.from_dict(data)

    def summary(self) -> dict[str, Any]:
        """What may be published about these people: no name, phone or document number.

        ``agent_code_hash`` and ``application_hash`` are pseudonyms (SHA-256 over a context
        string), good for matching and counting, not secrets.
        """
        roles = {role: sum(1 for c in self.customers if c.role == role)
                 for role in (POLICYHOLDER, INSURED, GUARDIAN)}
        digest = hashlib.sha256(
            f"{APPLICATION_HASH_CONTEXT}{self.application_number}".encode()).hexdigest()[:32]
        return {"salesperson": {"type": self.salesperson.TYPE,
                                "agent_code_hash": self.salesperson.agent_code_hash,
                                "bound_by_roster": self.staff_id is not None},
                "roles": roles, "customers": len(self.customers), "elder": self.elder,
                "application_hash": digest}


def needs_elder_variant(people: People, on_date: dt.date) -> bool:
    """True when the policyholder is 60 or over on ``on_date``: the script's elder variant
    (slower prompts, a suitability confirmation, an extra confirmation) must be used.

    The policyholder decides, as in 保监发〔2017〕54号 ("投保人为60周岁以上"); an elderly
    insured with a younger policyholder does not switch the variant.
    """
    return people.policyholder.age_on(on_date) >= ELDER_AGE


def _check_roles(customers: tuple[Customer, ...], on: dt.date) -> None:
    if not all(isinstance(c, Customer) for c in customers):
        raise RoleError("customers must be Customer objects")
    holders = [c for c in customers if c.role == POLICYHOLDER]
    if len(holders) != 1:
        raise RoleError(f"a session has exactly one policyholder (投保人); found {len(holders)}")
    insured = [c for c in customers if c.role == INSURED]
    if not insured:
        raise RoleError("a session has at least one insured (被保险人); found none (list the "
                        "policyholder again with role \"insured\" if they insure themself)")
    numbers = [(c.id_type, c.id_number) for c in insured]
    if len(set(numbers)) != len(numbers):
        raise RoleError("the same insured is listed twice")
    for c in customers:
        c.age_on(on)  # a birth date after the session date is refused here
    by_number = {c.id_number: i for i, c in enumerate(customers) if c.role == INSURED}
    for i, guardian in enumerate(customers):
        if guardian.role != GUARDIAN:
            continue
        if guardian.guardian_for not in by_number:
            raise RoleError(f"customers[{i}] is a guardian for an insured who is not in the "
                            "session (guardian_for must be an insured's document number)")
        if guardian.age_on(on) < ADULT_AGE:
            raise RoleError(f"customers[{i}]: a guardian must be {ADULT_AGE} or over")
    for i, c in enumerate(customers):
        if c.role == INSURED and c.age_on(on) < ADULT_AGE:
            if not any(g.role == GUARDIAN and g.guardian_for == c.id_number for g in customers):
                raise RoleError(f"customers[{i}]: the insured is a minor (under {ADULT_AGE} on "
                                f"{on}) and needs a guardian (监护人) in the session")
