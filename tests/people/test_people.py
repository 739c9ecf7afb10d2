"""The people of a session: roles, the guardian rule, the elder variant, people.json, summary."""
from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest

from firmware.people import (Customer, FieldError, People, PeopleError, RoleError,
                             needs_elder_variant, salesperson_from_dict)


def test_a_valid_session_round_trips(people_dict: dict[str, Any]) -> None:
    people = People.from_dict(people_dict)
    assert people.policyholder.role == "policyholder"
    assert len(people.insured) == 2
    assert len(people.guardians) == 1
    assert people.guardians_of(people.insured[1]) == people.guardians
    raw = people.to_json()
    assert isinstance(raw, bytes)
    assert People.from_json(raw) == people
    assert People.from_json(raw).to_json() == raw


def test_to_json_is_stable_whatever_the_input_order(people_dict: dict[str, Any]) -> None:
    reordered = dict(reversed(list(people_dict.items())))
    reordered["salesperson"] = dict(reversed(list(people_dict["salesperson"].items())))
    assert People.from_dict(reordered).to_json() == People.from_dict(people_dict).to_json()
    text = People.from_dict(people_dict).to_json().decode("utf-8")
    keys = list(json.loads(text))
    assert keys == sorted(keys)
    assert "王五" in text  # UTF-8, not \\u escapes


def test_summary_holds_no_personal_data(people_dict: dict[str, Any]) -> None:
    people = People.from_dict(people_dict)
    summary = people.summary()
    assert summary["roles"] == {"policyholder": 1, "insured": 2, "guardian": 1}
    assert summary["customers"] == 4
    assert summary["elder"] is False
    assert summary["salesperson"]["type"] == "bank_employee"
    assert summary["salesperson"]["agent_code_hash"] == people.salesperson.agent_code_hash
    text = json.dumps(summary, ensure_ascii=False)
    for c in people.customers:
        assert c.name not in text and c.id_number not in text
        assert c.birth_date.isoformat() not in text
    for secret in ("张三", "13812345678", "AG0001", people.application_number):
        assert secret not in text


def test_exactly_one_policyholder(people_dict: dict[str, Any]) -> None:
    none = copy.deepcopy(people_dict)
    none["customers"] = none["customers"][1:]
    with pytest.raises(RoleError, match="exactly one policyholder.*found 0"):
        People.from_dict(none)
    two = copy.deepcopy(people_dict)
    two["customers"].append(dict(two["customers"][0]))
    with pytest.raises(RoleError, match="exactly one policyholder.*found 2"):
        People.from_dict(two)


def test_at_least_one_insured(people_dict: dict[str, Any]) -> None:
    data = copy.deepcopy(people_dict)
    data["customers"] = [data["customers"][0]]
    with pytest.raises(RoleError, match="at least one insured"):
        People.from_dict(data)


def test_a_minor_insured_needs_a_guardian(people_dict: dict[str, Any]) -> None:
    data = copy.deepcopy(people_dict)
    data["customers"] = data["customers"][:3]  # the guardian left out
    with pytest.raises(RoleError, match=r"customers\[2\]: the insured is a minor .* guardian"):
        People.from_dict(data)


def test_guardian_must_name_an_insured_and_be_adult(people_dict: dict[str, Any],
                                                    samples: Any) -> None:
    data = copy.deepcopy(people_dict)
    data["customers"][3]["guardian_for"] = samples.citizen_number(dt.date(2016, 1, 1))
    with pytest.raises(RoleError, match=r"customers\[3\] is a guardian for an insured who is "
                       "not in the session"):
        People.from_dict(data)
    data = copy.deepcopy(people_dict)
    del data["customers"][3]["guardian_for"]
    with pytest.raises(FieldError, match=r"customers\[3\]\.guardian_for: is required"):
        People.from_dict(data)
    data = copy.deepcopy(people_dict)
    data["customers"][3].update(name="王小红", id_number=samples.citizen_number(
        dt.date(2010, 1, 1), seq="789"))
    with pytest.raises(RoleError, match="a guardian must be 18 or over"):
        People.from_dict(data)


def test_guardian_for_is_for_guardians_only(people_dict: dict[str, Any]) -> None:
    data = copy.deepcopy(people_dict)
    data["customers"][1]["guardian_for"] = data["customers"][2]["id_number"]
    with pytest.raises(FieldError, match=r"customers\[1\]\.guardian_for: is for a guardian only"):
        People.from_dict(data)


def test_minor_turns_adult_on_the_eighteenth_birthday(people_dict: dict[str, Any],
                                                      samples: Any) -> None:
    child = samples.citizen_number(dt.date(2007, 6, 15), seq="456")
    data = copy.deepcopy(people_dict)
    data["customers"] = data["customers"][:2] + [
        {"role": "insured", "name": "王小明", "id_type": "resident_id", "id_number": child}]
    People.from_dict(data)  # 18 today: no guardian needed
    data["session_date"] = "2025-06-14"
    with pytest.raises(RoleError, match="minor"):
        People.from_dict(data)


def elder_people(samples: Any, birth: dt.date, on: dt.date) -> People:
    number = samples.citizen_number(birth)
    holder = Customer.create(role="policyholder", name="赵六", id_type="resident_id",
                             id_number=number)
    insured = Customer.create(role="insured", name="赵六", id_type="resident_id",
                              id_number=number)
    return People.create(application_number="APP123456",
                         salesperson=salesperson_from_dict(samples.identity("insurer_agent")),
                         customers=[holder, insured], session_date=on)


def test_elder_variant_from_the_60th_birthday(samples: Any) -> None:
    birth = dt.date(1965, 6, 15)
    people = elder_people(samples, birth, dt.date(2025, 6, 15))
    assert needs_elder_variant(people, dt.date(2025, 6, 14)) is False   # 59
    assert needs_elder_variant(people, dt.date(2025, 6, 15)) is True    # 60 today
    assert people.elder is True
    assert people.summary()["elder"] is True
    assert elder_people(samples, birth, dt.date(2025, 6, 14)).elder is False


def test_elder_born_on_29_february(samples: Any) -> None:
    people = elder_people(samples, dt.date(1964, 2, 29), dt.date(2024, 3, 1))
    assert needs_elder_variant(people, dt.date(2024, 2, 28)) is False
    assert needs_elder_variant(people, dt.date(2024, 2, 29)) is True


def test_an_elder_insured_alone_does_not_select_the_variant(people_dict: dict[str, Any],
                                                            samples: Any) -> None:
    data = copy.deepcopy(people_dict)
    data["customers"].append({"role": "insured", "name": "王老", "id_type": "resident_id",
                              "id_number": samples.citizen_number(dt.date(1940, 1, 1), seq="999")})
    assert People.from_dict(data).elder is False


@pytest.mark.parametrize("bad", ["12345", "A" * 33, "TB-2025-0001", "投保单号123456", 12345678])
def test_application_number_shape(people_dict: dict[str, Any], bad: object) -> None:
    data = copy.deepcopy(people_dict)
    data["application_number"] = bad
    with pytest.raises(FieldError, match=r"^application_number: must be"):
        People.from_dict(data)


def test_customer_errors_name_the_field_but_not_the_value(people_dict: dict[str, Any]) -> None:
    data = copy.deepcopy(people_dict)
    data["customers"][2]["name"] = "王小明2"
    with pytest.raises(FieldError) as info:
        People.from_dict(data)
    assert info.value.field == "customers[2].name"
    assert "王小明2" not in str(info.value)
    data = copy.deepcopy(people_dict)
    bad_number = data["customers"][0]["id_number"][:-1] + "0"
    data["customers"][0]["id_number"] = bad_number
    with pytest.raises(FieldError) as info:
        People.from_dict(data)
    assert info.value.field == "customers[0].id_number"
    assert bad_number not in str(info.value)


def test_session_date_before_a_birth_is_refused(people_dict: dict[str, Any]) -> None:
    data = copy.deepcopy(people_dict)
    data["session_date"] = "2015-01-01"
    with pytest.raises(PeopleError, match="after the session date"):
        People.from_dict(data)


def test_not_json_and_wrong_format(people_dict: dict[str, Any]) -> None:
    with pytest.raises(PeopleError, match="not JSON"):
        People.from_json(b"{nope")
    data = dict(people_dict, format="something-else")
    with pytest.raises(FieldError, match="^format: must be 'dualrec-people-v1'"):
        People.from_dict(data)
