"""The three salesperson identity types: each valid, and each field rule broken."""
from __future__ import annotations

from typing import Any

import pytest

from firmware.errors import DualrecError
from firmware.people import (BankEmployee, FieldError, InsurerAgent, IntermediaryEmployee,
                             PeopleError, salesperson_from_dict)

KINDS = ("bank_employee", "insurer_agent", "intermediary_employee")


@pytest.mark.parametrize("kind", KINDS)
def test_each_identity_type_valid_round_trips(samples: Any, kind: str) -> None:
    data = samples.identity(kind)
    person = salesperson_from_dict(data)
    assert person.TYPE == kind
    assert person.to_dict() == data
    assert salesperson_from_dict(person.to_dict()) == person
    assert len(person.agent_code_hash) == 32


def test_direct_construction_checks_fields() -> None:
    ok = BankEmployee(name="张三", agent_code="AG0001", org_code="ICBC01", gender="F",
                      phone="13912345678", outlet_code="OUT1")
    assert ok.channel == "bank"
    with pytest.raises(FieldError, match=r"^bank_employee\.phone: must be a mainland mobile"):
        BankEmployee(name="张三", agent_code="AG0001", org_code="ICBC01", gender="F",
                     phone="12345", outlet_code="OUT1")
    with pytest.raises(FieldError, match=r"insurer_agent\.channel_code"):
        InsurerAgent(name="Li", agent_code="AG0001", org_code="PA", gender="M",
                     phone="13912345678", channel_code="A-1", outlet_code="SZ")
    with pytest.raises(FieldError, match=r"intermediary_employee\.company_code"):
        IntermediaryEmployee(company_code="X", name="Li", staff_number="1",
                             phone="13912345678", org_code="BJ", gender="M")


def test_errors_are_dualrec_and_value_errors() -> None:
    with pytest.raises(FieldError) as info:
        salesperson_from_dict({"type": "bank_employee"})
    assert isinstance(info.value, PeopleError)
    assert isinstance(info.value, DualrecError)
    assert isinstance(info.value, ValueError)
    assert info.value.field == "salesperson.name"
    assert info.value.rule == "is required"


# (kind, field, bad value, what the message must say)
VIOLATIONS = [
    (kind, "name", bad, rule)
    for kind in KINDS
    for bad, rule in [("", "must not be empty"), ("张" * 41, "at most 40"),
                      ("张三3", "CJK or Latin letters"), (" Li", "CJK or Latin letters"),
                      ("Li  Si", "CJK or Latin letters"), ("Li@Si", "CJK or Latin letters"),
                      (123, "must be text")]
] + [
    (kind, "phone", bad, rule)
    for kind in KINDS
    for bad, rule in [("1381234567", "mainland mobile"), ("12812345678", "mainland mobile"),
                      ("+8613812345678", "mainland mobile"), ("138-1234-5678", "mainland mobile"),
                      (13812345678, "must be text")]
] + [
    (kind, "gender", bad, rule)
    for kind in KINDS for bad, rule in [("male", 'must be "M" or "F"'), ("m", '"M" or "F"')]
] + [
    (kind, "org_code", bad, rule)
    for kind in KINDS
    for bad, rule in [("B", "2 to 32"), ("B" * 33, "2 to 32"), ("BJ 01", "letters and digits"),
                      ("北京", "letters and digits")]
] + [
    (kind, "agent_code", bad, rule)
    for kind in ("bank_employee", "insurer_agent")
    for bad, rule in [("AG1", "4 to 32"), ("A" * 33, "4 to 32"), ("AG-001", "letters and digits")]
] + [
    (kind, "outlet_code", bad, rule)
    for kind in ("bank_employee", "insurer_agent")
    for bad, rule in [("O", "2 to 32"), ("OUT_1", "letters and digits")]
] + [
    ("bank_employee", "channel", "agency", 'must be "bank"'),
    ("insurer_agent", "channel_code", "", "1 to 16"),
    ("insurer_agent", "channel_code", "C" * 17, "1 to 16"),
    ("intermediary_employee", "company_code", "M", "2 to 32"),
    ("intermediary_employee", "company_code", "MIN SHENG", "letters and digits"),
    ("intermediary_employee", "staff_number", "", "1 to 32"),
    ("intermediary_employee", "staff_number", "12/34", "letters and digits"),
]


@pytest.mark.parametrize("kind,field,bad,rule", VIOLATIONS,
                         ids=[f"{k}-{f}-{b!r}"[:60] for k, f, b, _ in VIOLATIONS])
def test_each_field_rule_violated(samples: Any, kind: str, field: str, bad: object,
                                  rule: str) -> None:
    data = samples.identity(kind)
    data[field] = bad
    with pytest.raises(FieldError) as info:
        salesperson_from_dict(data, where="staff[2].identity")
    assert info.value.field == f"staff[2].identity.{field}"
    assert rule in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
def test_missing_and_unknown_fields_named(samples: Any, kind: str) -> None:
    data = samples.identity(kind)
    del data["gender"]
    with pytest.raises(FieldError, match=r"^salesperson\.gender: is required"):
        salesperson_from_dict(data)
    data = samples.identity(kind)
    data["email"] = "a@b.c"
    with pytest.raises(FieldError, match=r"^salesperson\.email: is not a known field"):
        salesperson_from_dict(data)


def test_unknown_identity_type() -> None:
    with pytest.raises(FieldError, match=r"salesperson\.type: must be one of: bank_employee, "
                       r"insurer_agent, intermediary_employee"):
        salesperson_from_dict({"type": "broker"})


def test_names_and_phones_are_not_repeated_in_errors(samples: Any) -> None:
    data = samples.identity("bank_employee")
    data["phone"] = "99912345678"
    with pytest.raises(FieldError) as info:
        salesperson_from_dict(data)
    assert "99912345678" not in str(info.value)
    data = samples.identity("bank_employee")
    data["name"] = "张三9"
    with pytest.raises(FieldError) as info:
        salesperson_from_dict(data)
    assert "张三9" not in str(info.value)


@pytest.mark.parametrize("good", ["张三", "欧阳娜娜", "买买提·艾力", "Jean-Luc Picard",
                                  "O'Brien", "J. R. Smith", "Zoë Lü", "𠀀三", "a"])
def test_names_accepted(samples: Any, good: str) -> None:
    data = samples.identity("insurer_agent")
    data["name"] = good
    assert salesperson_from_dict(data).name == good


def test_agent_code_hash_differs_by_type_and_code(samples: Any) -> None:
    bank = salesperson_from_dict(samples.identity("bank_employee"))
    agent_data = samples.identity("insurer_agent")
    agent_data["agent_code"] = bank.agent_code
    agent = salesperson_from_dict(agent_data)
    assert bank.agent_code_hash != agent.agent_code_hash
    assert bank.agent_code not in bank.agent_code_hash
