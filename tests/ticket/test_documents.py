"""Documents named by a ticket (issue 15): SHA-256s in the spec, raw digests in the QR, refused
when malformed or too many, and handed to the session's binding for its reading nodes."""
from __future__ import annotations

import hashlib
import zlib
from typing import Any, Callable

import base45
import cbor2
import pytest

from drivers.clock.sim import SimClock
from firmware.evidence.keys import DeviceKey
from firmware.ticket import (MALFORMED, PREFIX, Ticket, TicketRefused, TicketSpecError,
                             decode_ticket, encode_ticket)
from firmware.ticket.codec import ISSUE_MAX_CHARS
from firmware.ticket.cose import key_id, sig_structure
from firmware.ticket.documents import MAX_TICKET_DOCUMENTS, TicketDocument
from firmware.ticket.wire import CLAIM_TICKET, ticket_claims
from firmware.unit.binder import Binder, TicketBinder
from firmware.unit.session.script import load_templates


def sha(n: int) -> str:
    return hashlib.sha256(f"document {n}".encode()).hexdigest()


def _signed(payload: bytes, key: DeviceKey) -> str:
    protected = cbor2.dumps({1: -8, 4: key_id(key.public)})
    signature = key.sign(sig_structure(protected, payload))
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))
    return PREFIX + base45.b45encode(zlib.compress(cose)).decode()


def _problems(make_ticket: Callable[..., Ticket], documents: Any) -> str:
    with pytest.raises(TicketSpecError) as caught:
        make_ticket(documents=documents)
    return "\n".join(caught.value.problems)


def test_documents_round_trip_as_raw_digests(make_ticket: Callable[..., Ticket],
                                             sales_key: DeviceKey) -> None:
    documents = [sha(1), {"sha256": sha(2), "title": "投保提示书"}]
    ticket = make_ticket(documents=documents)
    assert ticket.documents == (TicketDocument(sha(1)), TicketDocument(sha(2), "投保提示书"))
    assert ticket.to_dict()["documents"] == documents
    assert Ticket.from_dict(ticket.to_dict()) == ticket
    body = ticket_claims(ticket)[CLAIM_TICKET]
    assert body[8] == [bytes.fromhex(sha(1)), {1: bytes.fromhex(sha(2)), 2: "投保提示书"}]
    text = encode_ticket(ticket, sales_key.sign, sales_key.public)
    decoded, _ = decode_ticket(text, [sales_key.public])
    assert decoded == ticket
    assert ticket.summary()["documents"] == [sha(1), sha(2)]


def test_a_ticket_without_documents_is_unchanged_on_the_wire(
        make_ticket: Callable[..., Ticket]) -> None:
    ticket = make_ticket()
    assert ticket.documents == ()
    assert "documents" not in ticket.to_dict() and "documents" not in ticket.summary()
    assert 8 not in ticket_claims(ticket)[CLAIM_TICKET]


def test_the_most_documents_with_titles_still_fit_a_phone_qr(
        make_ticket: Callable[..., Ticket], sales_key: DeviceKey) -> None:
    documents = [{"sha256": sha(i), "title": f"第{i}号条款说明书"}
                 for i in range(MAX_TICKET_DOCUMENTS)]
    plain = encode_ticket(make_ticket(), sales_key.sign, sales_key.public)
    text = encode_ticket(make_ticket(documents=documents), sales_key.sign, sales_key.public)
    assert len(text) <= ISSUE_MAX_CHARS
    # raw digests: 8 documents cost about 1.5 characters per digest byte, not 3 (hex)
    assert len(text) - len(plain) < MAX_TICKET_DOCUMENTS * 32 * 2.2


@pytest.mark.parametrize("bad", [
    sha(1).upper(), sha(1)[:63], sha(1) + "0", "g" * 64, 12, None,
    {"title": "投保提示书"}, {"sha256": sha(1), "pages": 3}, {"sha256": sha(1), "title": ""},
    {"sha256": sha(1), "title": " 前后空格 "}, {"sha256": sha(1), "title": "x" * 41},
])
def test_a_bad_digest_or_title_is_refused_by_name(make_ticket: Callable[..., Ticket],
                                                  bad: Any) -> None:
    assert "documents[1]" in _problems(make_ticket, [sha(0), bad])


def test_too_many_none_or_repeated_documents_are_refused(
        make_ticket: Callable[..., Ticket]) -> None:
    assert "1 to 8" in _problems(make_ticket, [sha(i) for i in range(MAX_TICKET_DOCUMENTS + 1)])
    assert "1 to 8" in _problems(make_ticket, [])
    assert "1 to 8" in _problems(make_ticket, sha(0))
    assert "twice" in _problems(make_ticket, [sha(0), {"sha256": sha(0), "title": "同一份"}])


@pytest.mark.parametrize("documents, where", [
    ([bytes.fromhex(sha(1))[:31]], "documents[0]"),           # a digest cut short
    ([sha(1)], "documents[0]"),                                # hex text instead of bytes
    ([{1: bytes.fromhex(sha(1)), 3: "x"}], "documents[0]"),    # an unknown key
    ([bytes.fromhex(sha(i)) for i in range(9)], "documents"),  # too many
    (bytes.fromhex(sha(1)), "documents"),                      # not a list
])
def test_signed_claims_with_bad_documents_are_malformed(make_ticket: Callable[..., Ticket],
                                                        sales_key: DeviceKey, documents: Any,
                                                        where: str) -> None:
    claims = ticket_claims(make_ticket())
    claims[CLAIM_TICKET][8] = documents
    with pytest.raises(TicketRefused) as caught:
        decode_ticket(_signed(cbor2.dumps(claims), sales_key), [sales_key.public])
    assert caught.value.reason == MALFORMED and where in caught.value.message


def test_a_ticket_with_documents_binds_a_session_that_reads_them(
        make_ticket: Callable[..., Ticket]) -> None:
    templates = load_templates()
    binder = Binder(templates, SimClock(realtime=True), template="bank-life", mode="av")
    ticket = make_ticket(documents=[sha(3), {"sha256": sha(1), "title": "免责条款"}])
    binding = TicketBinder(binder).bind(ticket, "fingerprint")
    assert binding.documents == (sha(3), sha(1))
    assert binding.ticket is not None and binding.ticket["documents"] == [sha(3), sha(1)]
    assert TicketBinder(binder).bind(make_ticket(), "fingerprint").documents == ()
