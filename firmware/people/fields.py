"""The rules of single fields: names, phone numbers, gender, codes, dates.

Each check takes the value and the field's dotted path (for the error message) and returns
the value to keep, or raises :class:`~firmware.people.errors.FieldError` naming the field and
the rule. Values are never silently changed: a code with a stray space is refused, not trimmed.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping

from firmware.people.errors import FieldError

NAME_MAX = 40

# Letters a name may use: CJK ideographs (basic, extension A, compatibility, extensions B-F)
# and Latin letters with their accented forms (pinyin ü and tone marks, European names).
_LETTER = ("A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
           "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef")
# Letters joined by a middle dot (买买提·艾力), hyphen, apostrophe, full stop, or one space.
_NAME = re.compile(rf"[{_LETTER}]+(?:(?:[\u00b7\u30fb'\-]|\.? |\.)[{_LETTER}]+)*\.?")
_PHONE = re.compile(r"1[3-9][0-9]{9}")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_STAFF_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

GENDERS = ("M", "F")


def text(value: Any, field: str) -> str:
    """``value`` if it is a string, else a FieldError (numbers are refused: ``"0086"`` and
    ``86`` are different codes)."""
    if not isinstance(value, str):
        raise FieldError(field, f"must be text, not {type(value).__name__}", value)
    return value


def name(value: Any, field: str) -> str:
    """A person's name: 1 to 40 CJK or Latin letters, parts joined by ``·``, ``-``, ``'``,
    ``.`` or single spaces; no digits, no leading or trailing space."""
    value = text(value, field)
    if not value:
        raise FieldError(field, "must not be empty")
    if len(value) > NAME_MAX:
        raise FieldError(field, f"must be at most {NAME_MAX} characters, has {len(value)}")
    if not _NAME.fullmatch(value):
        raise FieldError(field, "must be CJK or Latin letters, parts joined by '·', '-', "
                         "\"'\", '.' or single spaces, with no digits or other signs", value)
    return value


def phone(value: Any, field: str) -> str:
    """A mainland China mobile number: 11 digits, ``1[3-9]`` then 9 digits, no ``+86``."""
    value = text(value, field)
    if not _PHONE.fullmatch(value):
        raise FieldError(field, "must be a mainland mobile number: 11 digits starting 13-19, "
                         "without +86, spaces or dashes", value)
    return value


def gender(value: Any, field: str) -> str:
    """``"M"`` or ``"F"``."""
    value = text(value, field)
    if value not in GENDERS:
        raise FieldError(field, "must be \"M\" or \"F\"", value)
    return value


def code(value: Any, field: str, min_len: int, max_len: int) -> str:
    """An organisation or staff code: ASCII letters and digits only, ``min_len`` to
    ``max_len`` characters."""
    value = text(value, field)
    if not min_len <= len(value) <= max_len:
        raise FieldError(field, f"must be {min_len} to {max_len} characters long, "
                         f"has {len(value)}", value)
    if not _ALNUM.fullmatch(value):
        raise FieldError(field, "must be ASCII letters and digits only", value)
    return value


def staff_id(value: Any, field: str) -> str:
    """A roster staff id: 1 to 32 ASCII letters, digits, ``-`` or ``_``, starting with a letter
    or digit (no ``:``, which separates the parts of a badge code)."""
    value = text(value, field)
    if not (1 <= len(value) <= 32 and _STAFF_ID.fullmatch(value)):
        raise FieldError(field, "must be 1 to 32 ASCII letters, digits, '-' or '_', starting "
                         "with a letter or digit", value)
    return value


def date(value: Any, field: str) -> dt.date:
    """A calendar date written ``YYYY-MM-DD`` (a :class:`datetime.date` passes as it is)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    value = text(value, field)
    if not _DATE.fullmatch(value):
        raise FieldError(field, "must be a date written YYYY-MM-DD", value)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FieldError(field, "is not a real calendar date", value) from None


def whole_number(value: Any, field: str, minimum: int, maximum: int) -> int:
    """An integer from ``minimum`` to ``maximum`` (booleans are not numbers here)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise FieldError(field, "must be a whole number", value)
    if not minimum <= value <= maximum:
        raise FieldError(field, f"must be from {minimum} to {maximum}", value)
    return value


def exact_keys(data: Any, where: str, required: tuple[str, ...],
               optional: tuple[str, ...] = ()) -> Mapping[str, Any]:
    """``data`` if it is an object holding every key in ``required``, and no key outside
    ``required`` and ``optional``; else a FieldError naming the key."""
    if not isinstance(data, Mapping):
        raise FieldError(where, f"must be an object, not {type(data).__name__}")
    for key in required:
        if key not in data:
            raise FieldError(f"{where}.{key}" if where else key, "is required")
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        allowed = ", ".join(sorted(required + optional))
        raise FieldError(f"{where}.{unknown[0]}" if where else unknown[0],
                         f"is not a known field here; the fields are: {allowed}")
    return data


def age_on(birth: dt.date, on: dt.date) -> int:
    """Completed years of age on ``on`` for someone born on ``birth`` (one born on 29 February
    comes of age on 1 March in a common year)."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years
