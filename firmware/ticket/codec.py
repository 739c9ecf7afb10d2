"""A ticket as text for a QR code: ``DRT1:`` + base45(zlib(COSE_Sign1(CBOR claims))).

The same layering as the EU Digital COVID Certificate's ``HC1:``: the claims
(:mod:`firmware.ticket.wire`) are CBOR, signed as a COSE_Sign1 (:mod:`firmware.ticket.cose`),
compressed with zlib, and written in base45 (RFC 9285), whose 45 characters are exactly the
QR code's alphanumeric mode (5.5 bits a character instead of 8 in byte mode). The prefix
says what the code is and its version, so a staff badge or a web address shown by mistake is
told apart at once.

Every step is bounded for untrusted text: at most :data:`MAX_TEXT_CHARS` characters (the
most a QR code can hold), base45 checked character by character, zlib stopped at
:data:`MAX_COSE_BYTES` of output (a zlib bomb costs no more than that), CBOR walked for
depth and item count before it is decoded, and the signature checked before the claims are
read. Any failure is a :class:`TicketRefused` with reason ``malformed`` or ``forged``.
"""
from __future__ import annotations

import re
import zlib
from typing import Callable, Sequence

import base45
import cbor2

from firmware.evidence.keys import PublicKey
from firmware.ticket.cbor_shape import CBORShapeError, loads_bounded
from firmware.ticket.cose import parse_sign1, sign1
from firmware.ticket.errors import MALFORMED, TicketRefused, TicketSpecError
from firmware.ticket.model import Ticket
from firmware.ticket.wire import ticket_claims, ticket_from_claims

PREFIX = "DRT1:"
MAX_TEXT_CHARS = 4296    # a version-40 QR code at level L holds 4296 alphanumeric characters
ISSUE_MAX_CHARS = 1853   # version 25 at level M: the densest code issued, for phone screens
MAX_COSE_BYTES = 8192    # a ticket with ten people is under 2 KiB
MAX_PAYLOAD_DEPTH = 5    # claims > ticket > product > insurance period
MAX_PAYLOAD_ITEMS = 1024
_BASE45 = re.compile(r"[0-9A-Z $%*+\-./:]*")


def encode_ticket(ticket: Ticket, sign: Callable[[bytes], bytes],
                  public_key: PublicKey) -> str:
    """The QR text of ``ticket`` signed with ``sign(message) -> signature`` (the sales
    system's Ed25519 key, whose public half is ``public_key``)."""
    payload = cbor2.dumps(ticket_claims(ticket))
    compressed = zlib.compress(sign1(payload, sign, public_key), 9)
    text = PREFIX + base45.b45encode(compressed).decode("ascii")
    if len(text) > ISSUE_MAX_CHARS:
        raise TicketSpecError([f"the signed ticket is {len(text)} characters, more than a QR "
                               f"code a camera reads off a phone screen should hold "
                               f"({ISSUE_MAX_CHARS}, version 25 at level M): shorten the "
                               "names or list fewer people"])
    return text


def is_ticket_text(text: str) -> bool:
    """Whether ``text`` at least claims to be a dualrec ticket (starts ``DRT1:``)."""
    return text.startswith(PREFIX)


def cose_bytes(text: str) -> bytes:
    """The COSE_Sign1 bytes inside the QR text ``text`` (prefix, base45, zlib undone, each
    bounded); :class:`TicketRefused` (``malformed``) for anything else."""
    if not isinstance(text, str):
        raise TicketRefused(MALFORMED, f"a ticket is text, not {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise TicketRefused(MALFORMED, f"{len(text)} characters is more than a ticket QR code "
                            f"holds ({MAX_TEXT_CHARS})")
    if not is_ticket_text(text):
        shown = text[:24] + ("..." if len(text) > 24 else "")
        raise TicketRefused(MALFORMED, f"not a dualrec ticket (it does not start {PREFIX!r}: "
                            f"{shown!r})")
    body = text[len(PREFIX):]
    if not _BASE45.fullmatch(body) or len(body) % 3 == 1:
        raise TicketRefused(MALFORMED, "the ticket is not base45 text: damaged or cut short")
    try:
        compressed = base45.b45decode(body)
    except (ValueError, KeyError, IndexError) as exc:
        raise TicketRefused(MALFORMED, f"the ticket is not base45 text: {exc}") from None
    inflate = zlib.decompressobj()
    try:
        data = inflate.decompress(compressed, MAX_COSE_BYTES + 1)
    except zlib.error as exc:
        raise TicketRefused(MALFORMED, f"the ticket is not zlib data: {exc}") from None
    if len(data) > MAX_COSE_BYTES or inflate.unconsumed_tail:
        raise TicketRefused(MALFORMED, f"the ticket unpacks to more than {MAX_COSE_BYTES} "
                            "bytes: refused unread")
    if not inflate.eof or inflate.unused_data:
        raise TicketRefused(MALFORMED, "the ticket's zlib data is cut short or has bytes "
                            "after its end")
    return data


def decode_ticket(text: str, keys: Sequence[PublicKey]) -> tuple[Ticket, PublicKey]:
    """The ticket in the QR text ``text`` and the key among ``keys`` that signed it.

    Raises :class:`TicketRefused`: ``forged`` when no key in ``keys`` signed it (or it was
    changed after signing), ``malformed`` when it is not a ticket, is damaged, exceeds a
    bound, or is signed but breaks the ticket's rules. Time, scope and reuse are not checked
    here (:class:`firmware.ticket.check.TicketChecker` does that)."""
    message = parse_sign1(cose_bytes(text))
    signer = message.verify(keys)
    try:
        claims = loads_bounded(message.payload, max_depth=MAX_PAYLOAD_DEPTH,
                               max_items=MAX_PAYLOAD_ITEMS)
        return ticket_from_claims(claims, "signed ticket"), signer
    except CBORShapeError as exc:
        raise TicketRefused(MALFORMED, f"signed, but the claims are not plain CBOR: {exc}") \
            from None
    except TicketSpecError as exc:
        where = sorted({line.split(": ", 1)[0] for line in exc.problems})
        raise TicketRefused(MALFORMED, "signed, but breaks the ticket rules at: "
                            + ", ".join(where)) from None  # values may be personal data
