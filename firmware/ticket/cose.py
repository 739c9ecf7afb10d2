"""COSE_Sign1 (RFC 9052) with Ed25519 (EdDSA, alg -8): the signature around a ticket.

A message is ``18([protected, {}, payload, signature])``: ``protected`` is the CBOR of
``{1: -8, 4: kid}`` (algorithm EdDSA; ``kid`` the first 8 bytes of SHA-256 over the raw
public key, i.e. the first 16 hex digits of its fingerprint), the unprotected header is
empty, and ``signature`` is Ed25519 over the Sig_structure
``["Signature1", protected, h'', payload]``. That is the EU Digital COVID Certificate's
envelope, so any COSE library verifies a ticket (the tests check ours against pycose).

Written on cbor2 and cryptography rather than pycose, so the unit does not carry pycose's
dependencies (ecdsa, certvalidator, oscrypto) for forty lines, and so every decode is
bounded (:mod:`firmware.ticket.cbor_shape`); only EdDSA is accepted, so no algorithm
named by an attacker is ever tried.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import cbor2

from firmware.evidence.keys import PublicKey
from firmware.ticket.cbor_shape import CBORShapeError, loads_bounded
from firmware.ticket.errors import FORGED, MALFORMED, TicketRefused

COSE_SIGN1_TAG = 18
HEADER_ALG = 1
HEADER_KID = 4
ALG_EDDSA = -8
KID_BYTES = 8
SIGNATURE_BYTES = 64
_CONTEXT = "Signature1"


def key_id(public_key: PublicKey) -> bytes:
    """The ``kid`` of ``public_key``: the first 8 bytes of SHA-256 of its raw 32 bytes."""
    return bytes.fromhex(public_key.fingerprint[:2 * KID_BYTES])


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes Ed25519 signs: the CBOR of ``["Signature1", protected, h'', payload]``."""
    return cbor2.dumps([_CONTEXT, protected, b"", payload])


def sign1(payload: bytes, sign: Callable[[bytes], bytes], public_key: PublicKey) -> bytes:
    """The COSE_Sign1 message of ``payload`` signed with ``sign(message) -> signature``;
    ``public_key`` names the signer (``kid``) and checks the signature just made."""
    protected = cbor2.dumps({HEADER_ALG: ALG_EDDSA, HEADER_KID: key_id(public_key)})
    to_sign = sig_structure(protected, payload)
    signature = sign(to_sign)
    if len(signature) != SIGNATURE_BYTES or not public_key.verify(signature, to_sign):
        raise ValueError("the signature just made does not verify under the given public "
                         "key: the private and public key do not match")
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


@dataclass(frozen=True)
class Sign1:
    """A parsed COSE_Sign1 whose signature is not yet checked."""

    protected: bytes
    kid: bytes
    payload: bytes
    signature: bytes

    def verify(self, keys: Sequence[PublicKey]) -> PublicKey:
        """The key among ``keys`` that signed this message; :class:`TicketRefused`
        (``forged``) when none did."""
        to_check = sig_structure(self.protected, self.payload)
        for key in keys:
            if key_id(key) == self.kid and key.verify(self.signature, to_check):
                return key
        if not any(key_id(key) == self.kid for key in keys):
            raise TicketRefused(FORGED, f"signed by key {self.kid.hex()}, which is not a "
                                "sales-system key this unit trusts")
        raise TicketRefused(FORGED, "the signature does not match the ticket: it was changed "
                            "after the sales system signed it")


def parse_sign1(data: bytes) -> Sign1:
    """The parts of the COSE_Sign1 message ``data``; :class:`TicketRefused` (``malformed``)
    for anything else, including another algorithm than EdDSA."""
    try:
        message = loads_bounded(data, max_depth=3, max_items=16,
                                tags=frozenset({COSE_SIGN1_TAG}))
    except CBORShapeError as exc:
        raise TicketRefused(MALFORMED, f"not a COSE_Sign1 message: {exc}") from None
    if not isinstance(message, cbor2.CBORTag) or message.tag != COSE_SIGN1_TAG \
            or not isinstance(message.value, (list, tuple)) or len(message.value) != 4:
        raise TicketRefused(MALFORMED, "not a COSE_Sign1 message (tag 18 around 4 parts)")
    protected, unprotected, payload, signature = message.value
    if not (isinstance(protected, bytes) and isinstance(payload, bytes)
            and isinstance(signature, bytes)):
        raise TicketRefused(MALFORMED, "COSE_Sign1 parts must be byte strings")
    if not isinstance(unprotected, Mapping) or len(unprotected) != 0:
        raise TicketRefused(MALFORMED, "the unprotected header must be empty")
    if len(signature) != SIGNATURE_BYTES:
        raise TicketRefused(MALFORMED, f"an Ed25519 signature is {SIGNATURE_BYTES} bytes, "
                            f"not {len(signature)}")
    try:
        header = loads_bounded(protected, max_depth=1, max_items=8)
    except CBORShapeError as exc:
        raise TicketRefused(MALFORMED, f"the protected header is not CBOR: {exc}") from None
    if not isinstance(header, Mapping) or set(header) != {HEADER_ALG, HEADER_KID}:
        raise TicketRefused(MALFORMED, "the protected header must hold exactly the algorithm "
                            "(1) and the key id (4)")
    if header[HEADER_ALG] != ALG_EDDSA or type(header[HEADER_ALG]) is not int:
        raise TicketRefused(MALFORMED, f"algorithm {header[HEADER_ALG]!r} refused: tickets "
                            "are signed with EdDSA (-8)")
    kid = header[HEADER_KID]
    if not isinstance(kid, bytes) or len(kid) != KID_BYTES:
        raise TicketRefused(MALFORMED, f"the key id must be {KID_BYTES} bytes")
    return Sign1(protected, kid, payload, signature)
