"""The compact form of a ticket inside its signature: CWT claims (RFC 8392) with integer keys.

The payload of the COSE_Sign1 is a CBOR map of claims::

    {4: exp, 6: iat, 7: cti, -65537: BODY}

``exp`` and ``iat`` are seconds since the epoch (UTC), ``cti`` the ticket id's bytes, and
``-65537`` (a private-use claim key) holds the ticket::

    BODY    = {1: application_number, 2: insurer, 3: PRODUCT, 4: [PERSON, ...],
               5: staff_id, 6: mode, 7: SCOPE, 8: [DOCUMENT, ...]}      (8: optional)
    PRODUCT = {1: name, 2: kind, 3: returns, 4: premium in fen (integer), 5: frequency,
               6: payment_years, 7: PERIOD, 8: cooling_off_days}
    PERIOD  = {1: years} | {2: to_age} | {3: true}            (lifetime)
    PERSON  = {1: role, 2: name, 3: id_type, 4: id_number, 5: birth_date, 6: gender,
               7: guardian_for, 8: true}                      (8: remote; 5-8 optional)
    SCOPE   = {1: org, 2: outlet, 3: [device id, ...]}        (each optional)
    DOCUMENT = bytes(32) | {1: bytes(32), 2: title}           (its SHA-256, raw)

Integer keys keep a three-person ticket with Chinese names at about 430 bytes after zlib, a
QR code of version 16 at level M instead of 19 with the names spelled out. Values keep
their text codes (``"policyholder"``, ``"annual"``) so a CBOR dump stays readable. A
``birth_date`` the document number already holds is left out. Decoding turns the claims
back into the ticket's dict form and checks it with :meth:`Ticket.from_dict`. A document's
SHA-256 travels as its 32 raw bytes (hex would double it, and hashes do not compress): eight
documents add about 280 bytes, 420 characters of QR text.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Mapping

from firmware.people.id_documents import id_types
from firmware.ticket.model import Ticket
from firmware.ticket.problems import Problems

CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_CTI = 7
CLAIM_TICKET = -65537
_CLAIMS = {CLAIM_EXP: "expires", CLAIM_IAT: "issued", CLAIM_CTI: "ticket_id",
           CLAIM_TICKET: "ticket"}
_BODY = {1: "application_number", 2: "insurer", 3: "product", 4: "people", 5: "staff_id",
         6: "mode", 7: "scope", 8: "documents"}
_PRODUCT = {1: "name", 2: "kind", 3: "returns", 4: "premium_fen", 5: "frequency",
            6: "payment_years", 7: "insurance_period", 8: "cooling_off_days"}
_PERIOD = {1: "years", 2: "to_age", 3: "lifetime"}
_PERSON = {1: "role", 2: "name", 3: "id_type", 4: "id_number", 5: "birth_date", 6: "gender",
           7: "guardian_for", 8: "remote"}
_SCOPE = {1: "org", 2: "outlet", 3: "devices"}
_DOCUMENT = {1: "sha256", 2: "title"}
_LATEST = 2 ** 40  # seconds: a time beyond year 36000 is not a ticket's


def _by_number(table: Mapping[int, str], values: Mapping[str, Any]) -> dict[int, Any]:
    numbers = {name: number for number, name in table.items()}
    return {numbers[name]: value for name, value in values.items()}


def ticket_claims(ticket: Ticket) -> dict[int, Any]:
    """The CWT claims map of ``ticket``, ready for CBOR."""
    product = ticket.product.to_dict()
    product["premium_fen"] = int(ticket.product.premium_yuan * 100)
    del product["premium_yuan"]
    product["insurance_period"] = _by_number(_PERIOD, ticket.product.insurance_period.to_dict())
    carries = {code for code, kind in id_types().items() if kind.carries_birth_date}
    people = []
    for person in ticket.people:
        entry = person.to_dict()
        if person.customer.id_type in carries:
            del entry["birth_date"]  # the number holds it; decoding derives it again
        people.append(_by_number(_PERSON, entry))
    body = {"application_number": ticket.application_number, "insurer": ticket.insurer,
            "product": _by_number(_PRODUCT, product), "people": people,
            "staff_id": ticket.staff_id, "mode": ticket.mode,
            "scope": _by_number(_SCOPE, ticket.scope.to_dict())}
    if ticket.documents:
        body["documents"] = [
            {1: bytes.fromhex(doc.sha256), 2: doc.title} if doc.title
            else bytes.fromhex(doc.sha256) for doc in ticket.documents]
    return {CLAIM_EXP: int(ticket.expires.timestamp()),
            CLAIM_IAT: int(ticket.issued.timestamp()),
            CLAIM_CTI: bytes.fromhex(ticket.ticket_id),
            CLAIM_TICKET: _by_number(_BODY, body)}


def ticket_from_claims(claims: Any, source: str = "ticket") -> Ticket:
    """The ticket in a decoded claims map; :class:`TicketSpecError` names every problem."""
    p = Problems(source)
    named = _named(claims, _CLAIMS, "claims", p)
    body = _named(named.get("ticket", {}), _BODY, "ticket", p)
    data: dict[str, Any] = dict(body)
    if "ticket_id" in named:
        cti = named["ticket_id"]
        data["ticket_id"] = cti.hex() if isinstance(cti, bytes) else cti
    for key in ("issued", "expires"):
        if key in named and (moment := _moment(named[key], key, p)) is not None:
            data[key] = moment
    if "product" in body:
        product = _named(body["product"], _PRODUCT, "product", p)
        if "premium_fen" in product:
            fen = product.pop("premium_fen")
            product["premium_yuan"] = Decimal(fen) / 100 if type(fen) is int else fen
        if "insurance_period" in product:
            period = _named(product["insurance_period"], _PERIOD, "product.insurance_period", p)
            product["insurance_period"] = period
        data["product"] = product
    if "people" in body:
        people = body["people"]
        data["people"] = ([_named(item, _PERSON, f"people[{i}]", p)
                           for i, item in enumerate(people)]
                          if isinstance(people, list) else people)
    if "scope" in body:
        data["scope"] = _named(body["scope"], _SCOPE, "scope", p)
    if "documents" in body:
        documents = body["documents"]
        data["documents"] = ([_document(item, f"documents[{i}]", p)
                              for i, item in enumerate(documents)]
                             if isinstance(documents, list) else documents)
    for key in ("expires", "issued", "ticket_id"):
        if key not in named:
            p.add(key, "is missing from the claims")
    p.raise_if_any()
    return Ticket.from_dict(data, source)


def _named(data: Any, table: Mapping[int, str], path: str, p: Problems) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        p.add(path, f"must be a map, not {type(data).__name__}")
        return {}
    out = {}
    for key, value in data.items():
        if type(key) is not int or key not in table:
            p.add(path, f"has an unknown key {key!r}")
        else:
            out[table[key]] = value
    return out


def _document(item: Any, path: str, p: Problems) -> Any:
    """A DOCUMENT back in its dict form: the raw digest as hex (checked by the model)."""
    if isinstance(item, bytes):
        return _digest(item, path, p)
    entry = _named(item, _DOCUMENT, path, p)
    if "sha256" in entry:
        entry["sha256"] = _digest(entry["sha256"], f"{path}.sha256", p)
    return entry


def _digest(value: Any, path: str, p: Problems) -> str:
    if not isinstance(value, bytes) or len(value) != 32:
        p.add(path, "must be a SHA-256 as 32 bytes")
        return ""
    return value.hex()


def _moment(value: Any, key: str, p: Problems) -> dt.datetime | None:
    if type(value) is not int or not 0 <= value <= _LATEST:
        p.add(key, "must be whole seconds since 1970 (UTC)")
        return None
    return dt.datetime.fromtimestamp(value, dt.timezone.utc)

