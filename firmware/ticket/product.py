"""The product a 双录 ticket is for: its kind, returns, premium, payment and periods.

Money is a :class:`~decimal.Decimal` of yuan with at most two decimals (fen), never a float:
``12345.6`` in a JSON spec is read exactly. The insurance period is one of three typed forms
(:class:`InsurancePeriod`): a number of years (保十年), up to an age (保至八十八周岁), or
lifetime (保终身).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from firmware.people import fields
from firmware.people.errors import FieldError
from firmware.ticket.problems import Problems

#: Product kinds, by the code the script templates use (``products = [...]``), with the
#: Chinese name. The last three are designs whose returns are uncertain by nature.
KINDS = {"life": "人寿保险", "health": "健康保险", "annuity": "年金保险",
         "accident": "意外伤害保险", "participating": "分红型保险", "universal": "万能型保险",
         "investment-linked": "投资连结型保险"}
UNCERTAIN_KINDS = ("participating", "universal", "investment-linked")
RETURNS = ("fixed", "uncertain")
#: How often the premium is paid: annual 年交, semiannual 半年交, quarterly 季交, monthly 月交,
#: single 趸交 (once).
FREQUENCIES = ("annual", "semiannual", "quarterly", "monthly", "single")

PREMIUM_MAX_YUAN = Decimal(1_000_000_000)   # 十亿元: far above any counter sale
YEARS_MAX = 100
AGE_MAX = 120
COOLING_OFF_MAX_DAYS = 60
TEXT_MAX = 80
_MONEY = re.compile(r"(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?")
_REFUSED_CATEGORIES = ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp")

YEARS = "years"
TO_AGE = "to_age"
LIFETIME = "lifetime"


def display_text(value: Any, field: str, max_len: int = TEXT_MAX) -> str:
    """A name shown and spoken as written (an insurer, a product): 1 to ``max_len``
    characters, no control or invisible formatting characters (no bidirectional overrides),
    no leading or trailing space."""
    value = fields.text(value, field)
    if not 1 <= len(value) <= max_len:
        raise FieldError(field, f"must be 1 to {max_len} characters, has {len(value)}")
    if value != value.strip():
        raise FieldError(field, "must not begin or end with white space", value)
    bad = [c for c in value if unicodedata.category(c) in _REFUSED_CATEGORIES]
    if bad:
        raise FieldError(field, f"must not hold control or invisible characters "
                         f"(found U+{ord(bad[0]):04X})")
    return value


def money_yuan(value: Any, field: str) -> Decimal:
    """An amount of yuan, more than 0 and at most 十亿, with at most two decimals: an integer,
    a Decimal, or text such as ``"12345.60"`` (floats are refused: use text or read JSON with
    ``parse_float=Decimal``)."""
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise FieldError(field, "must be an amount of yuan: a whole number, or text like "
                         "\"12345.60\"", value)
    if isinstance(value, str):
        if not _MONEY.fullmatch(value):
            raise FieldError(field, "must be yuan written like 12000 or 12345.60 (digits, at "
                             "most two decimals)", value)
        value = Decimal(value)
    amount = Decimal(value)
    if not amount.is_finite():
        raise FieldError(field, "must be a finite amount of yuan", str(value))
    if not Decimal(0) < amount <= PREMIUM_MAX_YUAN:
        raise FieldError(field, f"must be more than 0 and at most {PREMIUM_MAX_YUAN} yuan",
                         str(value))
    if amount != amount.quantize(Decimal("0.01")):
        raise FieldError(field, "must have at most two decimals (fen)", str(value))
    return amount.quantize(Decimal("0.01"))


def yuan_text(amount: Decimal) -> str:
    """``amount`` written with two decimals (``"12000.00"``), as in :meth:`Product.to_dict`."""
    return f"{amount.quantize(Decimal('0.01')):f}"


@dataclass(frozen=True)
class InsurancePeriod:
    """How long the cover lasts: ``kind`` is ``"years"`` (``value`` years), ``"to_age"``
    (until the insured's ``value``-th birthday, 至N周岁) or ``"lifetime"`` (``value`` None).

    Its dict form has exactly one key: ``{"years": 10}``, ``{"to_age": 88}`` or
    ``{"lifetime": true}``.
    """

    kind: str
    value: int | None = None

    def __post_init__(self) -> None:
        if self.kind == LIFETIME:
            if self.value is not None:
                raise FieldError("insurance_period", "lifetime takes no number")
        elif self.kind == YEARS:
            fields.whole_number(self.value, "insurance_period.years", 1, YEARS_MAX)
        elif self.kind == TO_AGE:
            fields.whole_number(self.value, "insurance_period.to_age", 1, AGE_MAX)
        else:
            raise FieldError("insurance_period", f"kind must be {YEARS}, {TO_AGE} or "
                             f"{LIFETIME}", self.kind)

    @classmethod
    def years(cls, n: int) -> "InsurancePeriod":
        return cls(YEARS, n)

    @classmethod
    def to_age(cls, age: int) -> "InsurancePeriod":
        return cls(TO_AGE, age)

    @classmethod
    def lifetime(cls) -> "InsurancePeriod":
        return cls(LIFETIME)

    @classmethod
    def from_dict(cls, data: Any, field: str = "product.insurance_period") -> "InsurancePeriod":
        if not isinstance(data, dict) or len(data) != 1 \
                or next(iter(data)) not in (YEARS, TO_AGE, LIFETIME):
            raise FieldError(field, "must be one of {\"years\": N}, {\"to_age\": N} or "
                             "{\"lifetime\": true}")
        ((kind, value),) = data.items()
        if kind == LIFETIME:
            if value is not True:
                raise FieldError(f"{field}.lifetime", "must be true", value)
            return cls.lifetime()
        try:
            return cls(kind, value)
        except FieldError as exc:
            raise FieldError(f"{field}.{kind}", exc.rule, value) from None

    def to_dict(self) -> dict[str, Any]:
        return {LIFETIME: True} if self.kind == LIFETIME else {self.kind: self.value}


@dataclass(frozen=True)
class Product:
    """The facts of the product the customer buys, as the script states them.

    ``premium_yuan`` is paid once per ``frequency`` period (each year for ``annual``) for
    ``payment_years`` years; a ``single`` premium (趸交) is paid once, so its
    ``payment_years`` is 1. ``cooling_off_days`` is the 犹豫期 (0 for short-term cover
    without one). ``returns`` is ``"uncertain"`` for participating, universal and
    investment-linked designs (the script then adds the uncertain-returns statement).
    """

    name: str
    kind: str
    returns: str
    premium_yuan: Decimal
    frequency: str
    payment_years: int
    insurance_period: InsurancePeriod
    cooling_off_days: int

    def __post_init__(self) -> None:
        checked = Product.from_dict(self.to_dict())  # one set of rules however it is made
        for name in self.__dataclass_fields__:
            object.__setattr__(self, name, getattr(checked, name))

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]

    @classmethod
    def from_dict(cls, data: Any, where: str = "product") -> "Product":
        """A product from its dict form, every problem named at once (TicketSpecError)."""
        p = Problems(where)
        data = p.keys(data, where, ("name", "kind", "returns", "premium_yuan", "frequency",
                                    "insurance_period", "cooling_off_days"),
                      ("payment_years",))
        name = p.field(f"{where}.name", lambda: display_text(data["name"], f"{where}.name")) \
            if "name" in data else None
        kind = p.field(f"{where}.kind", lambda: _choice(data["kind"], f"{where}.kind",
                                                        tuple(KINDS))) if "kind" in data else None
        returns = p.field(f"{where}.returns", lambda: _choice(
            data["returns"], f"{where}.returns", RETURNS)) if "returns" in data else None
        if kind in UNCERTAIN_KINDS and returns == "fixed":
            p.add(f"{where}.returns", f"a {kind} product has uncertain returns: must be "
                  "\"uncertain\"")
        premium = p.field(f"{where}.premium_yuan", lambda: money_yuan(
            data["premium_yuan"], f"{where}.premium_yuan")) if "premium_yuan" in data else None
        frequency = p.field(f"{where}.frequency", lambda: _choice(
            data["frequency"], f"{where}.frequency", FREQUENCIES)) if "frequency" in data else None
        years = p.field(f"{where}.payment_years", lambda: fields.whole_number(
            data.get("payment_years", 1), f"{where}.payment_years", 1, YEARS_MAX))
        if "payment_years" not in data and frequency not in (None, "single"):
            p.add(f"{where}.payment_years", "is required unless the frequency is \"single\"")
        if frequency == "single" and years not in (None, 1):
            p.add(f"{where}.payment_years", "a single premium (趸交) is paid once: must be 1 "
                  "or left out")
        period = p.field(f"{where}.insurance_period", lambda: InsurancePeriod.from_dict(
            data["insurance_period"], f"{where}.insurance_period")) \
            if "insurance_period" in data else None
        if period is not None and years is not None and period.kind == YEARS \
                and period.value is not None and years > period.value:
            p.add(f"{where}.payment_years", f"is longer than the insurance period "
                  f"({period.value} years)")
        days = p.field(f"{where}.cooling_off_days", lambda: fields.whole_number(
            data["cooling_off_days"], f"{where}.cooling_off_days", 0, COOLING_OFF_MAX_DAYS)) \
            if "cooling_off_days" in data else None
        p.raise_if_any()
        product = object.__new__(cls)
        for key, value in (("name", name), ("kind", kind), ("returns", returns),
                           ("premium_yuan", premium), ("frequency", frequency),
                           ("payment_years", years), ("insurance_period", period),
                           ("cooling_off_days", days)):
            object.__setattr__(product, key, value)
        return product

    def to_dict(self) -> dict[str, Any]:
        """The spec form: premium as text with two decimals (canonical JSON has no floats)."""
        premium = self.premium_yuan
        return {"name": self.name, "kind": self.kind, "returns": self.returns,
                "premium_yuan": yuan_text(premium) if isinstance(premium, Decimal) else premium,
                "frequency": self.frequency, "payment_years": self.payment_years,
                "insurance_period": (self.insurance_period.to_dict()
                                     if isinstance(self.insurance_period, InsurancePeriod)
                                     else self.insurance_period),
                "cooling_off_days": self.cooling_off_days}


def _choice(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise FieldError(field, f"must be one of: {', '.join(allowed)}", value)
    return value
