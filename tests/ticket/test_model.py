"""The ticket's content: every rule, every problem named at once, no personal data out."""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any, Callable

import pytest

from firmware.evidence import canonical
from firmware.people.people import People
from firmware.people.salesperson import salesperson_from_dict
from firmware.ticket import (InsurancePeriod, Product, Scope, Ticket, TicketSpecError,
                             application_hash, ticket_from_spec)


def product(**changes: Any) -> dict[str, Any]:
    data = {"name": "示例鑫禧增额终身寿险", "kind": "life", "returns": "fixed",
            "premium_yuan": "50000.00", "frequency": "annual", "payment_years": 5,
            "insurance_period": {"lifetime": True}, "cooling_off_days": 15}
    data.update(changes)
    return data


def test_sample_spec_makes_a_ticket(make_ticket: Callable[..., Ticket], now: dt.datetime) -> None:
    ticket = make_ticket()
    assert ticket.application_number == "TB31012025061500017"
    assert ticket.product.premium_yuan == Decimal("50000.00")
    assert ticket.product.insurance_period == InsurancePeriod.lifetime()
    assert [p.customer.role for p in ticket.people] == ["policyholder", "insured", "guardian"]
    assert ticket.issued == now.astimezone(dt.timezone.utc)
    assert ticket.expires - ticket.issued == dt.timedelta(hours=8)
    assert ticket.scope == Scope("BANK3101", "SH0012")
    assert Ticket.from_dict(ticket.to_dict()) == ticket
    canonical.encode(ticket.to_dict())  # no floats: the dict form can be sealed as it is


def test_every_problem_is_named_at_once(spec: dict[str, Any], now: dt.datetime) -> None:
    spec["product"] = product(kind="participating", premium_yuan=Decimal("12.345"),
                              frequency="weekly", insurance_period={"years": 0})
    spec["mode"] = "video"
    spec["staff_id"] = "S 1"
    spec["scope"] = {"outlet": "SH0012"}
    spec["people"][0]["id_number"] = "310115197503071235"  # check digit wrong
    spec["surprise"] = 1
    with pytest.raises(TicketSpecError) as caught:
        ticket_from_spec(spec, now)
    paths = {line.split(":")[0] for line in caught.value.problems}
    assert paths == {"surprise", "product.returns", "product.premium_yuan",
                     "product.frequency", "product.insurance_period.years", "mode",
                     "staff_id", "scope", "scope.outlet", "people[0].id_number"}
    assert "310115197503071235" not in str(caught.value)  # document numbers never shown
    assert "王建国" not in str(caught.value)


@pytest.mark.parametrize("changes, path", [
    ({"premium_yuan": 1.5}, "product.premium_yuan"),            # a float: refused
    ({"premium_yuan": "0"}, "product.premium_yuan"),
    ({"premium_yuan": "1000000000.01"}, "product.premium_yuan"),
    ({"premium_yuan": "12,000"}, "product.premium_yuan"),
    ({"frequency": "single", "payment_years": 3}, "product.payment_years"),
    ({"payment_years": 20, "insurance_period": {"years": 10}}, "product.payment_years"),
    ({"insurance_period": {"to_age": 121}}, "product.insurance_period.to_age"),
    ({"insurance_period": {"lifetime": 1}}, "product.insurance_period.lifetime"),
    ({"insurance_period": {"years": 10, "to_age": 88}}, "product.insurance_period"),
    ({"insurance_period": "lifetime"}, "product.insurance_period"),
    ({"cooling_off_days": 61}, "product.cooling_off_days"),
    ({"name": "产品\u202e名"}, "product.name"),                    # a bidi override
    ({"name": ""}, "product.name"),
    ({"kind": "universal", "returns": "fixed"}, "product.returns"),
])
def test_product_rules(spec: dict[str, Any], now: dt.datetime, changes: dict[str, Any],
                       path: str) -> None:
    spec["product"] = product(**changes)
    with pytest.raises(TicketSpecError) as caught:
        ticket_from_spec(spec, now)
    assert [line.split(": ")[0] for line in caught.value.problems] == [path]


def test_product_forms() -> None:
    single = Product.from_dict({k: v for k, v in product(frequency="single",
                                                         premium_yuan=200000).items()
                                if k != "payment_years"})
    assert single.payment_years == 1 and single.premium_yuan == Decimal("200000.00")
    assert Product.from_dict(product(premium_yuan="12345.6")).premium_yuan == Decimal("12345.60")
    assert Product.from_dict(product(insurance_period={"to_age": 88})).insurance_period \
        == InsurancePeriod.to_age(88)
    ten = Product.from_dict(product(insurance_period={"years": 10}))
    assert ten.insurance_period.to_dict() == {"years": 10}
    with pytest.raises(TicketSpecError, match="payment_years: is required"):
        Product.from_dict({k: v for k, v in product().items() if k != "payment_years"})
    assert ten.kind_label == "人寿保险"


def test_scope_rules(spec: dict[str, Any], now: dt.datetime) -> None:
    for scope, message in (({}, "must name the branch"),
                           ({"org": "BANK3101", "devices": []}, "devices"),
                           ({"devices": ["dr-0001", "dr-0001"]}, "twice"),
                           ({"devices": ["DR_1"]}, "device id"),
                           ({"org": "B"}, "2 to 32")):
        spec["scope"] = scope
        with pytest.raises(TicketSpecError, match=message):
            ticket_from_spec(spec, now)
    spec["scope"] = {"devices": ["dr-0001"]}
    assert ticket_from_spec(spec, now).scope == Scope(devices=("dr-0001",))


def test_times(spec: dict[str, Any], now: dt.datetime) -> None:
    del spec["valid_hours"]
    spec["expires"] = "2025-06-15T18:00:00+08:00"
    ticket = ticket_from_spec(spec, now)
    assert ticket.expires == dt.datetime(2025, 6, 15, 10, tzinfo=dt.timezone.utc)
    for expires, message in (("2025-06-15T18:00:00", "UTC offset"),
                             ("2025-06-15T09:00:00+08:00", "after issued"),
                             ("2025-08-15T09:00:00+08:00", "31 days"),
                             ("tomorrow", "ISO 8601")):
        spec["expires"] = expires
        with pytest.raises(TicketSpecError, match=message):
            ticket_from_spec(spec, now)
    spec["valid_hours"] = 2
    with pytest.raises(TicketSpecError, match="not both"):
        ticket_from_spec(spec, now)


def test_role_rules_come_from_people(spec: dict[str, Any], now: dt.datetime) -> None:
    guardian = spec["people"].pop()  # the insured is ten: a minor without a guardian
    with pytest.raises(TicketSpecError, match="needs a guardian"):
        ticket_from_spec(spec, now)
    spec["people"] += [guardian, copy.deepcopy(spec["people"][0])]
    with pytest.raises(TicketSpecError, match="exactly one policyholder"):
        ticket_from_spec(spec, now)


def test_remote_people(spec: dict[str, Any], now: dt.datetime) -> None:
    spec["people"][2]["remote"] = True
    ticket = ticket_from_spec(spec, now)
    assert [p.customer.role for p in ticket.remote_people] == ["guardian"]
    assert ticket.to_dict()["people"][2]["remote"] is True
    assert "remote" not in ticket.to_dict()["people"][0]
    spec["people"][2]["remote"] = "yes"
    with pytest.raises(TicketSpecError, match=r"people\[2\].remote"):
        ticket_from_spec(spec, now)


def test_summary_holds_no_personal_data(make_ticket: Callable[..., Ticket]) -> None:
    ticket = make_ticket()
    text = canonical.encode(ticket.summary()).decode()
    for secret in ("王建国", "李秀英", "310115", ticket.application_number):
        assert secret not in text
    assert ticket.summary()["application_hash"] == application_hash(ticket.application_number)
    assert ticket.summary()["roles"] == {"policyholder": 1, "insured": 1, "guardian": 1}


def test_people_for_a_session_match_people_json(make_ticket: Callable[..., Ticket]) -> None:
    ticket = make_ticket()
    salesperson = salesperson_from_dict(
        {"type": "bank_employee", "name": "张三", "agent_code": "AG0001",
         "org_code": "BANK3101", "gender": "M", "phone": "13812345678", "channel": "bank",
         "outlet_code": "SH0012"})
    people = ticket.people_for(salesperson, dt.date(2025, 6, 15))
    assert isinstance(people, People)
    assert people.staff_id == "S0001"
    assert people.summary()["application_hash"] == ticket.application_hash
    assert not people.elder
