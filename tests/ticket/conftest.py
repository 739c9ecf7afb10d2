"""Fixtures for ticket tests: real Ed25519 sales keys, a realistic spec, issued tickets."""
from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest

from firmware.evidence.keys import DeviceKey
from firmware.ticket import Ticket, encode_ticket, ticket_from_spec

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SPEC = REPO / "firmware" / "samples" / "ticket-spec.json"
CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2025, 6, 15, 9, 30, tzinfo=CST)
TICKET_ID = "0123456789abcdef0123456789abcdef"


def fixed_key(seed: int) -> DeviceKey:
    """A key that is the same in every run: Ed25519 signs deterministically, so the tickets and
    their QR codes are too, and a photo of a code reads (or not) the same way every time."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    return DeviceKey(Ed25519PrivateKey.from_private_bytes(bytes((seed + i) % 256
                                                                for i in range(32))))


@pytest.fixture(scope="session")
def sales_key() -> DeviceKey:
    return fixed_key(1)


@pytest.fixture(scope="session")
def other_key() -> DeviceKey:
    return fixed_key(101)


@pytest.fixture
def spec() -> dict[str, Any]:
    """The shipped sample spec (three people, Chinese names), read as `ticket issue` does."""
    return json.loads(SAMPLE_SPEC.read_text(encoding="utf-8"), parse_float=Decimal)


@pytest.fixture
def now() -> dt.datetime:
    return NOW


@pytest.fixture
def make_ticket(spec: dict[str, Any]) -> Callable[..., Ticket]:
    """``make_ticket(**changes)``: the sample ticket issued at NOW, top-level keys changed."""
    def make(*, at: dt.datetime = NOW, ticket_id: str = TICKET_ID, **changes: Any) -> Ticket:
        data = copy.deepcopy(spec)
        data.update(changes)
        return ticket_from_spec(data, at, ticket_id=ticket_id)
    return make


@pytest.fixture
def issue(make_ticket: Callable[..., Ticket], sales_key: DeviceKey) -> Callable[..., str]:
    """``issue(key=sales_key, **changes)``: the QR text of a ticket made by make_ticket."""
    def issue_text(*, key: DeviceKey | None = None, **changes: Any) -> str:
        signer = key or sales_key
        return encode_ticket(make_ticket(**changes), signer.sign, signer.public)
    return issue_text


@pytest.fixture(scope="session")
def sample_text(sales_key: DeviceKey) -> str:
    spec = json.loads(SAMPLE_SPEC.read_text(encoding="utf-8"), parse_float=Decimal)
    ticket = ticket_from_spec(spec, NOW, ticket_id=TICKET_ID)
    return encode_ticket(ticket, sales_key.sign, sales_key.public)
