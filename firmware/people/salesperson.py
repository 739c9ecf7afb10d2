"""The salesperson bound to a session: three identity types, each with its own fields.

- ``bank_employee`` (银行员工): name, agent code, org code, gender, phone, channel (always
  ``"bank"``), outlet code;
- ``insurer_agent`` (保险公司代理人): name, agent code, org code, gender, phone, channel code,
  outlet code;
- ``intermediary_employee`` (中介机构从业人员): company code, name, staff number, phone,
  org code, gender.

docs/people.md has the rule of each field. Names and phone numbers are never repeated in an
error message (they are personal data); codes are.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

from firmware.people import fields
from firmware.people.errors import FieldError

Rule = Callable[[Any, str], Any]
AGENT_CODE_HASH_CONTEXT = "dualrec-agent-code-v1\n"


def _code(min_len: int, max_len: int) -> Rule:
    return lambda value, field: fields.code(value, field, min_len, max_len)


def _private(rule: Rule) -> Rule:
    """``rule``, with the offending value left out of its error message."""
    def check(value: Any, field: str) -> Any:
        try:
            return rule(value, field)
        except FieldError as exc:
            raise FieldError(exc.field, exc.rule) from None
    return check


def _bank(value: Any, field: str) -> str:
    if value != "bank":
        raise FieldError(field, "must be \"bank\" for a bank employee", value)
    return value


_NAME = _private(fields.name)
_PHONE = _private(fields.phone)


@dataclass(frozen=True)
class Salesperson:
    """What every identity type has; use one of the subclasses, or :func:`salesperson_from_dict`.

    ``RULES`` maps each field, in the documented order, to its check.
    """

    TYPE: ClassVar[str] = ""
    LABEL: ClassVar[str] = ""
    RULES: ClassVar[dict[str, Rule]] = {}

    def __post_init__(self) -> None:
        try:
            self.check_fields(dataclasses.asdict(self))
        except FieldError as exc:
            raise exc.under(self.TYPE) from None

    @classmethod
    def check_fields(cls, values: Mapping[str, Any]) -> None:
        """Check each field of ``values`` by its rule; FieldError names the first bad one."""
        for name, rule in cls.RULES.items():
            rule(values[name], name)

    @classmethod
    def from_fields(cls, data: Mapping[str, Any], where: str) -> "Salesperson":
        """This type built from ``data`` (its fields, without ``type``); errors are named
        under ``where``."""
        fields.exact_keys(data, where, tuple(cls.RULES))
        try:
            cls.check_fields(data)
        except FieldError as exc:
            raise exc.under(where) from None
        return cls(**{name: data[name] for name in cls.RULES})

    def to_dict(self) -> dict[str, Any]:
        """``{"type": ..., <fields>}``: the form in people.json and in the roster."""
        return {"type": self.TYPE, **dataclasses.asdict(self)}

    @property
    def code_for_hash(self) -> str:
        """The code that names this person in their organisation (the agent code)."""
        raise NotImplementedError

    @property
    def agent_code_hash(self) -> str:
        """A pseudonym safe to put in records and telemetry: the first 16 bytes (hex) of
        SHA-256 over a context string, the identity type and :attr:`code_for_hash`.

        It lets the fleet count sessions per salesperson without naming them; it is not a
        secret, since anyone with the list of codes can recompute it.
        """
        message = f"{AGENT_CODE_HASH_CONTEXT}{self.TYPE}\n{self.code_for_hash}".encode()
        return hashlib.sha256(message).hexdigest()[:32]


@dataclass(frozen=True)
class BankEmployee(Salesperson):
    """A bank's own employee selling at the counter as the insurer's agency (银行员工)."""

    TYPE: ClassVar[str] = "bank_employee"
    LABEL: ClassVar[str] = "银行员工"
    RULES: ClassVar[dict[str, Rule]] = {
        "name": _NAME, "agent_code": _code(4, 32), "org_code": _code(2, 32),
        "gender": fields.gender, "phone": _PHONE, "channel": _bank,
        "outlet_code": _code(2, 32)}

    name: str
    agent_code: str
    org_code: str
    gender: str
    phone: str
    outlet_code: str
    channel: str = "bank"

    @property
    def code_for_hash(self) -> str:
        return self.agent_code


@dataclass(frozen=True)
class InsurerAgent(Salesperson):
    """An insurer's own sales agent (保险公司代理人)."""

    TYPE: ClassVar[str] = "insurer_agent"
    LABEL: ClassVar[str] = "保险公司代理人"
    RULES: ClassVar[dict[str, Rule]] = {
        "name": _NAME, "agent_code": _code(4, 32), "org_code": _code(2, 32),
        "gender": fields.gender, "phone": _PHONE, "channel_code": _code(1, 16),
        "outlet_code": _code(2, 32)}

    name: str
    agent_code: str
    org_code: str
    gender: str
    phone: str
    channel_code: str
    outlet_code: str

    @property
    def code_for_hash(self) -> str:
        return self.agent_code


@dataclass(frozen=True)
class IntermediaryEmployee(Salesperson):
    """An employee of an insurance intermediary (agency or brokerage) (中介机构从业人员)."""

    TYPE: ClassVar[str] = "intermediary_employee"
    LABEL: ClassVar[str] = "中介机构从业人员"
    RULES: ClassVar[dict[str, Rule]] = {
        "company_code": _code(2, 32), "name": _NAME, "staff_number": _code(1, 32),
        "phone": _PHONE, "org_code": _code(2, 32), "gender": fields.gender}

    company_code: str
    name: str
    staff_number: str
    phone: str
    org_code: str
    gender: str

    @property
    def code_for_hash(self) -> str:
        return f"{self.company_code}/{self.staff_number}"


def salesperson_types() -> dict[str, type[Salesperson]]:
    """Every identity type by its ``type`` code."""
    return {cls.TYPE: cls for cls in (BankEmployee, InsurerAgent, IntermediaryEmployee)}


def salesperson_from_dict(data: Any, where: str = "salesperson") -> Salesperson:
    """The identity described by ``data`` (``{"type": ..., <fields>}``), every field checked
    by the rules of its type; a FieldError names the field under ``where`` and the rule."""
    if not isinstance(data, Mapping):
        raise FieldError(where, f"must be an object, not {type(data).__name__}")
    types = salesperson_types()
    kind = data.get("type")
    if kind not in types:
        raise FieldError(f"{where}.type", f"must be one of: {', '.join(types)}", kind)
    body = {k: v for k, v in data.items() if k != "type"}
    return types[kind].from_fields(body, where)
