"""Identity documents a customer shows, and the rules of their numbers.

The 18-character citizen identity number (公民身份号码, GB 11643-1999) is used by the resident
identity card, the household register, the residence permit of Hong Kong, Macao and Taiwan
residents, and the 2023 foreign permanent resident card. Its last character is an ISO 7064
MOD 11-2 check over the first 17 digits, and digits 7-14 are the holder's birth date; both are
checked here, so a mistyped number is caught at the counter rather than by the insurer.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Callable

from firmware.people.errors import FieldError

#: ISO 7064 MOD 11-2 weights of the first 17 digits (2**(17-i) mod 11).
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_CITIZEN_NUMBER = re.compile(r"[1-9][0-9]{16}[0-9X]")


def gb11643_check_char(first17: str) -> str:
    """The check character (``0``-``9`` or ``X``) of the 17 digits ``first17``."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"need exactly 17 digits, got {first17!r}")
    return _CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def citizen_number_birth_date(number: str) -> dt.date | None:
    """The birth date held in digits 7-14 of an 18-character number, or None if not a date."""
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def check_citizen_number(number: str, field: str, *, prefixes: tuple[str, ...] = ()) -> str:
    """``number`` if it is a valid 18-character GB 11643 number (an ``x`` check character is
    accepted and kept as ``X``); else a FieldError that never repeats the number."""
    if len(number) == 18 and number.endswith("x"):
        number = number[:-1] + "X"
    if not _CITIZEN_NUMBER.fullmatch(number):
        raise FieldError(field, "must be 18 characters: 17 digits then a digit or X")
    if prefixes and not number.startswith(prefixes):
        raise FieldError(field, f"must start with {' or '.join(prefixes)} for this document")
    if citizen_number_birth_date(number) is None:
        raise FieldError(field, "characters 7-14 must be the holder's birth date (YYYYMMDD)")
    if gb11643_check_char(number[:17]) != number[17]:
        raise FieldError(field, "fails the GB 11643 check character: a digit is mistyped")
    return number


def _pattern(rx: str, rule: str) -> Callable[[str, str], str]:
    compiled = re.compile(rx)

    def check(number: str, field: str) -> str:
        if not compiled.fullmatch(number):
            raise FieldError(field, rule)
        return number
    return check


def _foreign_permanent(number: str, field: str) -> str:
    if re.fullmatch(r"[A-Z]{3}[0-9]{12}", number):  # the card issued before December 2023
        return number
    return check_citizen_number(number, field, prefixes=("9",))


@dataclass(frozen=True)
class IdType:
    """One kind of identity document: its code in people.json, its Chinese name, and how its
    number is checked. ``carries_birth_date``: the number holds the birth date."""

    code: str
    label: str
    check: Callable[[str, str], str]
    carries_birth_date: bool = False


def id_types() -> dict[str, IdType]:
    """Every document a customer may show, by code (built on each call: no module state)."""
    types = [
        IdType("resident_id", "居民身份证", check_citizen_number, True),
        IdType("household_register", "户口簿", check_citizen_number, True),
        IdType("hmt_residence_permit", "港澳台居民居住证",
               lambda n, f: check_citizen_number(n, f, prefixes=("810000", "820000", "830000")),
               True),
        IdType("foreign_permanent_resident", "外国人永久居留身份证", _foreign_permanent),
        IdType("passport", "护照",
               _pattern(r"[A-Z0-9]{5,20}", "must be 5 to 20 capital letters and digits")),
        IdType("hk_macao_permit", "港澳居民来往内地通行证",
               _pattern(r"[HM][0-9]{8}([0-9]{2})?", "must be H or M then 8 or 10 digits")),
        IdType("taiwan_permit", "台湾居民来往大陆通行证",
               _pattern(r"[0-9]{8}([0-9]{2})?", "must be 8 or 10 digits")),
        IdType("birth_certificate", "出生医学证明",
               _pattern(r"[A-Z][0-9]{9}", "must be a capital letter then 9 digits")),
        IdType("military_officer", "军官证",
               _pattern(r"[A-Za-z0-9\u4e00-\u9fff]{4,20}",
                        "must be 4 to 20 letters, digits or CJK characters")),
    ]
    return {t.code: t for t in types}


def id_type(code: object, field: str) -> IdType:
    """The :class:`IdType` called ``code``, or a FieldError listing the known codes."""
    types = id_types()
    if not isinstance(code, str) or code not in types:
        raise FieldError(field, f"must be one of: {', '.join(types)}", code)
    return types[code]


def check_id_number(kind: IdType, number: object, field: str) -> str:
    """``number`` checked by the rules of ``kind``; the number is never put in the message."""
    if not isinstance(number, str):
        raise FieldError(field, f"must be text, not {type(number).__name__}")
    return kind.check(number, field)
