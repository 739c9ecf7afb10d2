"""The customers of a session, each in one role: policyholder, insured, or guardian.

A customer's name, document number and birth date are personal data of the most sensitive
classes (JR/T 0171-2020): they go into the sealed ``people.json`` only, and no error message
here ever repeats them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from firmware.people import fields
from firmware.people.errors import FieldError
from firmware.people.id_documents import citizen_number_birth_date, check_id_number, id_type

POLICYHOLDER = "policyholder"
INSURED = "insured"
GUARDIAN = "guardian"
ROLES = (POLICYHOLDER, INSURED, GUARDIAN)
ROLE_LABELS = {POLICYHOLDER: "投保人", INSURED: "被保险人", GUARDIAN: "监护人"}

_REQUIRED = ("role", "name", "id_type", "id_number")
_OPTIONAL = ("birth_date", "gender", "guardian_for")


def _hidden(exc: FieldError) -> FieldError:
    return FieldError(exc.field, exc.rule)


@dataclass(frozen=True)
class Customer:
    """One customer in one role.

    ``birth_date`` may be left out for documents whose number holds it (resident identity
    card, household register, residence permit); if given it must agree with the number.
    ``guardian_for`` is set for a guardian only: the document number of the insured minor
    they stand for. The same person in two roles (a policyholder who is also the insured)
    is listed once per role.
    """

    role: str
    name: str
    id_type: str
    id_number: str
    birth_date: dt.date
    gender: str | None = None
    guardian_for: str | None = None

    @classmethod
    def create(cls, *, role: str, name: str, id_type: str, id_number: str,
               birth_date: dt.date | str | None = None, gender: str | None = None,
               guardian_for: str | None = None, where: str = "customer") -> "Customer":
        """A checked customer; a FieldError names the field under ``where`` and the rule."""
        data: dict[str, Any] = {"role": role, "name": name, "id_type": id_type,
                                "id_number": id_number}
        for key, value in (("birth_date", birth_date), ("gender", gender),
                           ("guardian_for", guardian_for)):
            if value is not None:
                data[key] = value
        return cls.from_dict(data, where)

    @classmethod
    def from_dict(cls, data: Any, where: str = "customer") -> "Customer":
        """A customer from its people.json form, every field checked."""
        fields.exact_keys(data, where, _REQUIRED, _OPTIONAL)
        role = data["role"]
        if role not in ROLES:
            raise FieldError(f"{where}.role", f"must be one of: {', '.join(ROLES)}", role)
        try:
            name = fields.name(data["name"], f"{where}.name")
        except FieldError as exc:
            raise _hidden(exc) from None
        kind = id_type(data["id_type"], f"{where}.id_type")
        number = check_id_number(kind, data["id_number"], f"{where}.id_number")
        birth = cls._birth_date(data.get("birth_date"), kind.carries_birth_date, number, where)
        gender = data.get("gender")
        if gender is not None:
            fields.gender(gender, f"{where}.gender")
        guardian_for = data.get("guardian_for")
        if role == GUARDIAN and guardian_for is None:
            raise FieldError(f"{where}.guardian_for", "is required for a guardian: the "
                             "document number of the insured minor they stand for")
        if role != GUARDIAN and guardian_for is not None:
            raise FieldError(f"{where}.guardian_for", "is for a guardian only")
        if guardian_for is not None and not isinstance(guardian_for, str):
            raise FieldError(f"{where}.guardian_for", "must be text (a document number)")
        return cls(role, name, kind.code, number, birth, gender, guardian_for)

    @staticmethod
    def _birth_date(value: Any, carried: bool, number: str, where: str) -> dt.date:
        field = f"{where}.birth_date"
        in_number = citizen_number_birth_date(number) if carried else None
        if value is None:
            if in_number is None:
                raise FieldError(field, "is required for this document (its number does not "
                                 "hold the birth date)")
            return in_number
        try:
            birth = fields.date(value, field)
        except FieldError as exc:
            raise _hidden(exc) from None
        if in_number is not None and birth != in_number:
            raise FieldError(field, "does not match the birth date in the document number")
        return birth

    def age_on(self, on: dt.date) -> int:
        """Completed years of age on the date ``on``."""
        if on < self.birth_date:
            raise FieldError(f"{self.role}.birth_date", f"is after the session date {on}")
        return fields.age_on(self.birth_date, on)

    def to_dict(self) -> dict[str, Any]:
        """The people.json form (birth date written YYYY-MM-DD; unset optional fields left out)."""
        out: dict[str, Any] = {"role": self.role, "name": self.name, "id_type": self.id_type,
                               "id_number": self.id_number,
                               "birth_date": self.birth_date.isoformat()}
        if self.gender is not None:
            out["gender"] = self.gender
        if self.guardian_for is not None:
            out["guardian_for"] = self.guardian_for
        return out


def customers_from_list(data: Any, where: str = "customers") -> list[Customer]:
    """Every customer of a people.json ``customers`` array, each checked."""
    if not isinstance(data, list):
        raise FieldError(where, f"must be an array, not {type(data).__name__}")
    return [Customer.from_dict(item, f"{where}[{i}]") for i, item in enumerate(data)]

