"""Identity document numbers: the GB 11643 check character, birth dates, other documents."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from firmware.people import Customer, FieldError
from firmware.people.id_documents import (check_citizen_number, gb11643_check_char,
                                          id_types)


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014"])
def test_published_examples_of_gb11643_pass(number: str) -> None:
    assert gb11643_check_char(number[:17]) == number[17]
    assert check_citizen_number(number, "n") == number


def test_lower_case_x_is_accepted_and_kept_upper() -> None:
    assert check_citizen_number("11010519491231002x", "n") == "11010519491231002X"


@pytest.mark.parametrize("number,rule", [
    ("110105194912310021", "check character"),       # last character changed
    ("11010519491231003X", "check character"),       # one digit changed
    ("11010519491331002X", "birth date"),            # month 13
    ("11010519490229002X", "birth date"),            # 29 February 1949
    ("11010519491231002", "18 characters"),          # too short
    ("01010519491231002X", "18 characters"),         # leading zero
    ("11010519491231002Y", "18 characters"),
])
def test_bad_citizen_numbers_refused_without_repeating_them(number: str, rule: str) -> None:
    with pytest.raises(FieldError) as info:
        check_citizen_number(number, "customers[0].id_number")
    assert rule in str(info.value)
    assert number not in str(info.value)
    assert info.value.field == "customers[0].id_number"


def test_every_single_digit_error_is_caught(samples: Any) -> None:
    number = samples.citizen_number(dt.date(1990, 1, 1))
    for i in range(17):
        for digit in "0123456789":
            if digit == number[i]:
                continue
            changed = number[:i] + digit + number[i + 1:]
            try:
                check_citizen_number(changed, "n")
            except FieldError:
                continue
            pytest.fail(f"a change of digit {i} was not caught")


def test_birth_date_comes_from_the_number_and_must_agree(samples: Any) -> None:
    number = samples.citizen_number(dt.date(1965, 6, 16))
    c = Customer.create(role="policyholder", name="王五", id_type="resident_id",
                        id_number=number)
    assert c.birth_date == dt.date(1965, 6, 16)
    same = Customer.create(role="policyholder", name="王五", id_type="resident_id",
                           id_number=number, birth_date="1965-06-16")
    assert same == c
    with pytest.raises(FieldError, match="does not match the birth date in the document"):
        Customer.create(role="policyholder", name="王五", id_type="resident_id",
                        id_number=number, birth_date="1965-06-17")


def test_documents_without_a_birth_date_need_one() -> None:
    with pytest.raises(FieldError, match=r"customer\.birth_date: is required"):
        Customer.create(role="insured", name="John Smith", id_type="passport",
                        id_number="E12345678")
    c = Customer.create(role="insured", name="John Smith", id_type="passport",
                        id_number="E12345678", birth_date="1970-01-02")
    assert c.birth_date == dt.date(1970, 1, 2)


@pytest.mark.parametrize("id_type,good,bad", [
    ("passport", "E12345678", "e1234"),
    ("hk_macao_permit", "H12345678", "X12345678"),
    ("taiwan_permit", "12345678", "1234567"),
    ("birth_certificate", "O440012345", "4400123456"),
    ("military_officer", "南字第123456号", "12"),
    ("foreign_permanent_resident", "USA123456789012", "US123456789012"),
])
def test_other_documents(id_type: str, good: str, bad: str) -> None:
    kind = id_types()[id_type]
    assert kind.check(good, "n") == good
    with pytest.raises(FieldError):
        kind.check(bad, "n")


def test_residence_permit_needs_its_prefix(samples: Any) -> None:
    kind = id_types()["hmt_residence_permit"]
    good = samples.citizen_number(dt.date(1990, 5, 5), region="810000")
    assert kind.check(good, "n") == good
    with pytest.raises(FieldError, match="must start with 810000"):
        kind.check(samples.citizen_number(dt.date(1990, 5, 5)), "n")


def test_unknown_id_type_lists_the_known_ones() -> None:
    with pytest.raises(FieldError, match=r"customer\.id_type: must be one of: resident_id"):
        Customer.create(role="insured", name="张三", id_type="driving_licence",
                        id_number="123456")
