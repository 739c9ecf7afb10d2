"""Errors about people, the staff roster and staff badges, rooted in :mod:`firmware.errors`.

Every one is a :class:`PeopleError`, hence a ``DualrecError`` and a ``ValueError``; the message
says what was wrong and, where a person can fix it, what to do next.
"""
from __future__ import annotations

from firmware.errors import DualrecError


class PeopleError(DualrecError, ValueError):
    """Base of every error about the people of a session, the roster or a badge."""


class FieldError(PeopleError):
    """One field of an identity, a customer or a roster entry breaks its rule.

    ``field`` is the dotted path of the field (``salesperson.phone``,
    ``customers[1].id_number``), ``rule`` says what the value must be.
    """

    def __init__(self, field: str, rule: str, value: object = None, *,
                 show_value: bool = True) -> None:
        self.field = field
        self.rule = rule
        self.value = value if show_value else None
        shown = f" (got {value!r})" if show_value and value is not None else ""
        super().__init__(f"{field}: {rule}{shown}")

    def under(self, where: str, *, hide_value: bool = False) -> "FieldError":
        """The same error for the same field found under ``where`` (a dotted path prefix);
        ``hide_value`` drops the offending value from the message (personal data)."""
        path = f"{where}.{self.field}" if where else self.field
        return FieldError(path, self.rule, None if hide_value else self.value)


class RoleError(PeopleError):
    """The customers of a session do not make a valid set of roles (exactly one policyholder,
    at least one insured, a guardian for each minor insured)."""


class RosterError(PeopleError):
    """The staff roster cannot be used; the unit keeps no roster rather than a doubtful one."""


class RosterFormatError(RosterError):
    """The roster file is not a well-formed signed roster; the message names the key path."""


class RosterSignatureError(RosterError):
    """The roster is not validly signed by the configured back-office key: edited after
    signing, signed by another key, or not signed at all."""


class RosterExpiredError(RosterError):
    """The roster is past its ``expires`` date (or before its ``issued`` date): ask the back
    office for a current one."""


class RosterRollbackError(RosterError):
    """The roster is older (lower ``serial``) than one the unit already accepted."""


class StaffRefused(PeopleError, LookupError):
    """A salesperson cannot be bound to a session from this roster."""


class StaffNotOnRoster(StaffRefused):
    """No roster entry has this staff id."""


class StaffNotValid(StaffRefused):
    """The staff member is on the roster but outside their ``valid_from`` .. ``valid_until``."""


class BadgeError(PeopleError):
    """A badge QR code was unreadable, not a dualrec badge, forged, or superseded."""
