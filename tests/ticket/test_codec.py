"""The ticket on the wire: COSE_Sign1 + CBOR + zlib + base45, its bounds and its refusals."""
from __future__ import annotations

import datetime as dt
import random
import tracemalloc
import zlib
from typing import Any, Callable

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys import OKPKey
from pycose.messages import Sign1Message

from firmware.evidence.keys import DeviceKey
from firmware.ticket import (FORGED, MALFORMED, PREFIX, REASONS, Ticket, TicketRefused,
                             TicketSpecError, decode_ticket, encode_ticket, ticket_from_spec)
from firmware.people.id_documents import gb11643_check_char
from firmware.ticket.codec import ISSUE_MAX_CHARS, MAX_COSE_BYTES, MAX_TEXT_CHARS, cose_bytes
from firmware.ticket.cose import key_id, sig_structure, sign1
from firmware.ticket.wire import CLAIM_TICKET, ticket_claims

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def text_of(cose: bytes) -> str:
    return PREFIX + base45.b45encode(zlib.compress(cose)).decode()


def refusal(text: Any, key: DeviceKey) -> TicketRefused:
    with pytest.raises(TicketRefused) as caught:
        decode_ticket(text, [key.public])
    return caught.value


@pytest.fixture(scope="module")
def raw_key() -> tuple[DeviceKey, bytes]:
    """A sales key whose private bytes pycose can be given."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    return DeviceKey(private), raw


def test_round_trip(make_ticket: Callable[..., Ticket], sales_key: DeviceKey,
                    other_key: DeviceKey) -> None:
    ticket = make_ticket()
    text = encode_ticket(ticket, sales_key.sign, sales_key.public)
    assert text.startswith("DRT1:") and set(text[5:]) <= set(BASE45)
    decoded, signer = decode_ticket(text, [other_key.public, sales_key.public])
    assert decoded == ticket
    assert signer == sales_key.public


def test_every_field_survives_the_wire(make_ticket: Callable[..., Ticket],
                                       sales_key: DeviceKey, spec: dict[str, Any]) -> None:
    spec["people"][2]["remote"] = True
    spec["people"][0]["id_type"] = "passport"
    spec["people"][0]["id_number"] = "E12345678"
    spec["people"][0]["birth_date"] = "1975-03-07"
    ticket = make_ticket(people=spec["people"], scope={"org": "BANK3101",
                                                       "devices": ["dr-0001", "dr-0002"]},
                         product={**spec["product"], "premium_yuan": "12345.67",
                                  "frequency": "monthly", "payment_years": 10,
                                  "insurance_period": {"to_age": 88}})
    decoded, _ = decode_ticket(encode_ticket(ticket, sales_key.sign, sales_key.public),
                               [sales_key.public])
    assert decoded == ticket
    assert decoded.to_dict() == ticket.to_dict()


def test_pycose_verifies_our_tickets(make_ticket: Callable[..., Ticket],
                                     raw_key: tuple[DeviceKey, bytes]) -> None:
    key, _ = raw_key
    ticket = make_ticket()
    tagged = cbor2.loads(cose_bytes(encode_ticket(ticket, key.sign, key.public)))
    assert tagged.tag == 18
    # pycose 1.1.0's own decode() expects a list where cbor2 6 gives a tagged tuple: hand it
    # the four parts (its verification is what is checked here)
    protected, unprotected, payload, signature = tagged.value
    message = Sign1Message.from_cose_obj([protected, dict(unprotected), payload, signature],
                                         True)
    message.key = OKPKey(crv="ED25519", x=key.public.raw)
    assert message.verify_signature()
    assert message.phdr[Algorithm] is EdDSA and message.phdr[KID] == key_id(key.public)
    claims = cbor2.loads(message.payload)
    assert claims[7] == bytes.fromhex(ticket.ticket_id)
    assert claims[4] == int(ticket.expires.timestamp())


def test_we_verify_pycose_tickets(make_ticket: Callable[..., Ticket],
                                  raw_key: tuple[DeviceKey, bytes]) -> None:
    key, private_raw = raw_key
    ticket = make_ticket()
    message = Sign1Message(phdr={Algorithm: EdDSA, KID: key_id(key.public)},
                           payload=cbor2.dumps(ticket_claims(ticket)))
    message.key = OKPKey(crv="ED25519", x=key.public.raw, d=private_raw)
    decoded, signer = decode_ticket(text_of(message.encode()), [key.public])
    assert decoded == ticket and signer == key.public


def test_signed_by_another_key_is_forged(issue: Callable[..., str], sales_key: DeviceKey,
                                         other_key: DeviceKey) -> None:
    exc = refusal(issue(key=other_key), sales_key)
    assert exc.reason == FORGED and "not a sales-system key" in exc.message
    assert "签名无效" in exc.display


def test_edited_after_signing_is_forged(sample_text: str, sales_key: DeviceKey) -> None:
    message = cbor2.loads(cose_bytes(sample_text))
    protected, _, payload, signature = message.value
    claims = cbor2.loads(payload)
    claims[CLAIM_TICKET][3][4] = 100  # the premium, 50000 yuan -> 1 yuan
    edited = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, cbor2.dumps(claims), signature]))
    exc = refusal(text_of(edited), sales_key)
    assert exc.reason == FORGED and "changed after" in exc.message
    bad_signature = bytes([signature[0] ^ 1]) + signature[1:]
    flipped = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, bad_signature]))
    assert refusal(text_of(flipped), sales_key).reason == FORGED


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flipped_byte_is_refused(data: st.DataObject, sample_text: str,
                                     sales_key: DeviceKey) -> None:
    cose = bytearray(cose_bytes(sample_text))
    at = data.draw(st.integers(0, len(cose) - 1))
    cose[at] ^= data.draw(st.integers(1, 255))
    assert refusal(text_of(bytes(cose)), sales_key).reason in (FORGED, MALFORMED)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_character_is_refused(data: st.DataObject, sample_text: str,
                                          sales_key: DeviceKey) -> None:
    at = data.draw(st.integers(0, len(sample_text) - 1))
    new = data.draw(st.sampled_from(BASE45 + "ab\n"))
    if new == sample_text[at]:
        return
    changed = sample_text[:at] + new + sample_text[at + 1:]
    assert refusal(changed, sales_key).reason in (FORGED, MALFORMED)


def _signed(payload: bytes, key: DeviceKey, *, alg: int = -8,
            unprotected: dict | None = None) -> str:
    protected = cbor2.dumps({1: alg, 4: key_id(key.public)})
    signature = key.sign(sig_structure(protected, payload))
    return text_of(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected or {}, payload,
                                                  signature])))


def test_only_eddsa_is_accepted(sales_key: DeviceKey) -> None:
    exc = refusal(_signed(b"\xa0", sales_key, alg=-7), sales_key)
    assert exc.reason == MALFORMED and "EdDSA" in exc.message
    assert refusal(_signed(b"\xa0", sales_key, unprotected={4: b"x"}), sales_key).reason \
        == MALFORMED


def test_signed_but_invalid_claims_are_malformed_without_their_values(
        make_ticket: Callable[..., Ticket], sales_key: DeviceKey) -> None:
    claims = ticket_claims(make_ticket())
    claims[CLAIM_TICKET][4][0][4] = "310115197503071235"  # a mistyped document number
    claims[CLAIM_TICKET][3][99] = "extra"
    exc = refusal(_signed(cbor2.dumps(claims), sales_key), sales_key)
    assert exc.reason == MALFORMED and "product" in exc.message
    claims[CLAIM_TICKET][3].pop(99)
    exc = refusal(_signed(cbor2.dumps(claims), sales_key), sales_key)
    assert exc.reason == MALFORMED and "people[0].id_number" in exc.message
    assert "310115" not in exc.message
    nested = b"\x81" * 40 + b"\x01"
    exc = refusal(_signed(nested, sales_key), sales_key)
    assert exc.reason == MALFORMED and "deeper" in exc.message
    exc = refusal(_signed(cbor2.dumps({4: cbor2.CBORTag(35, "a+")}), sales_key), sales_key)
    assert exc.reason == MALFORMED and "tag 35" in exc.message


def test_a_zlib_bomb_is_refused_without_being_unpacked(sales_key: DeviceKey) -> None:
    bomb = PREFIX + base45.b45encode(zlib.compress(b"\0" * 2_800_000, 9)).decode()
    assert len(bomb) <= MAX_TEXT_CHARS  # it fits a QR code and would unpack to 2.8 MB
    tracemalloc.start()
    try:
        exc = refusal(bomb, sales_key)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.reason == MALFORMED and f"more than {MAX_COSE_BYTES} bytes" in exc.message
    assert peak < 200_000  # bytes: only the bounded part was ever unpacked


def test_oversized_and_foreign_text(sales_key: DeviceKey) -> None:
    for text, words in ((PREFIX + "A" * MAX_TEXT_CHARS, "more than a ticket"),
                        ("DRSTAFF1:S0001:1:" + "A" * 86, "not a dualrec ticket"),
                        ("https://example.com/", "not a dualrec ticket"),
                        (PREFIX + "aa", "not base45"), (PREFIX + "A", "not base45"),
                        (PREFIX + "GGW", "not base45"),  # a triple over 65535
                        (PREFIX, "zlib"), (PREFIX + "00", "zlib"),
                        (text_of(b"\x00"), "COSE_Sign1"),
                        (PREFIX + base45.b45encode(zlib.compress(b"x") + b"!").decode(),
                         "after its end"),
                        (PREFIX + base45.b45encode(zlib.compress(b"xyz")[:-2]).decode(),
                         "cut short")):
        exc = refusal(text, sales_key)
        assert exc.reason == MALFORMED and words in exc.message, (text[:30], exc.message)
    assert refusal(b"DRT1:", sales_key).reason == MALFORMED  # bytes, not text


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=200), st.text(BASE45, max_size=300).map(PREFIX.__add__),
                      st.binary(max_size=300).map(lambda b: PREFIX + base45.b45encode(b).decode()),
                      st.binary(max_size=300).map(lambda b: PREFIX + base45.b45encode(
                          zlib.compress(b)).decode())))
def test_arbitrary_input_is_always_a_reasoned_refusal(text: str, sales_key: DeviceKey) -> None:
    exc = refusal(text, sales_key)
    assert exc.reason in REASONS and exc.message and exc.display


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.recursive(st.one_of(st.integers(-2**64 + 1, 2**64 - 1), st.binary(max_size=20),
                                      st.text(max_size=20), st.booleans(), st.none(),
                                      st.floats(allow_nan=False)),
                            lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                    st.dictionaries(st.integers(-70000, 10),
                                                                    inner, max_size=5)),
                            max_leaves=30))
def test_arbitrary_signed_claims_are_a_reasoned_refusal(payload: Any,
                                                        sales_key: DeviceKey) -> None:
    text = _signed(cbor2.dumps(payload), sales_key)
    assert refusal(text, sales_key).reason == MALFORMED


def test_cose_helpers_refuse_a_mismatched_key(sales_key: DeviceKey, other_key: DeviceKey) -> None:
    with pytest.raises(ValueError, match="do not match"):
        sign1(b"\xa0", other_key.sign, sales_key.public)


def test_ten_people_fit_and_oversized_tickets_are_not_issued(spec: dict[str, Any],
                                                             sales_key: DeviceKey) -> None:
    rng = random.Random(13)

    def cjk(n: int) -> str:
        return "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(n))

    def citizen(i: int) -> str:
        first17 = f"310115{1950 + i:04d}0{1 + i % 9}1{i % 10}{rng.randrange(1000):03d}"
        return first17 + gb11643_check_char(first17)
    people = [{"role": "policyholder" if i == 0 else "insured", "name": cjk(3),
               "id_type": "resident_id", "id_number": citizen(i)} for i in range(10)]
    spec.update(people=people)
    at = dt.datetime(2025, 6, 15, tzinfo=dt.timezone.utc)
    ticket = ticket_from_spec(spec, at)
    text = encode_ticket(ticket, sales_key.sign, sales_key.public)
    assert len(text) <= ISSUE_MAX_CHARS
    assert decode_ticket(text, [sales_key.public])[0] == ticket
    for person in people:
        person["name"] = cjk(40)  # names that do not compress, as long as allowed
    spec.update(people=people, insurer=cjk(80))
    with pytest.raises(TicketSpecError, match="phone screen"):
        encode_ticket(ticket_from_spec(spec, at), sales_key.sign, sales_key.public)
