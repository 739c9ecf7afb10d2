"""The signed roster file: how the back office signs a roster and how the unit checks it.

The file is a JSON object::

    {"format": "dualrec-signed-roster-v1", "key": FINGERPRINT, "signature": BASE64,
     "roster": BODY}

``signature`` is the Ed25519 signature of the back-office key over
``b"dualrec-roster-v1\\n" + canonical(BODY)`` (canonical JSON as in
:mod:`firmware.evidence.canonical`: keys sorted, no white space, UTF-8). ``key`` is the fingerprint of
the signing key, a hint for people; it is not trusted. The unit accepts a roster only when the
signature verifies under the back-office public key in its configuration, the body is well
formed, and the date is within ``issued`` .. ``expires``; anything else is refused whole.
The envelope, its signing and its checking are :mod:`firmware.protocol.signed_document`'s, shared with
the configuration bundles signed by the same key.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Callable

from firmware.evidence import durable
from firmware.evidence import canonical
from firmware.evidence.keys import PublicKey
from firmware.people.errors import (FieldError, RosterExpiredError, RosterFormatError,
                                    RosterRollbackError, RosterSignatureError)
from firmware.people.roster import Roster
from firmware.protocol.signed_document import (DocumentKind, read_public_key, sign_document,
                                      verify_document)

SIGNED_ROSTER_FORMAT = "dualrec-signed-roster-v1"
ROSTER_SIGNING_CONTEXT = b"dualrec-roster-v1\n"
SIGNED_ROSTER = DocumentKind(
    what="signed roster", body_name="roster", format=SIGNED_ROSTER_FORMAT,
    context=ROSTER_SIGNING_CONTEXT, body_field="roster", body_bytes=canonical.encode,
    format_error=RosterFormatError, signature_error=RosterSignatureError,
    unsigned_hint="an unsigned roster must be signed with `dualrec-provision roster sign` first")
__all__ = ["SIGNED_ROSTER", "install_roster", "load_roster", "parse_signed_roster",
           "read_public_key", "sign_roster", "verify_signed_roster"]


MAX_ROSTER = 16 * 1024 * 1024


def sign_roster(body: dict[str, Any], sign: Callable[[bytes], bytes],
                public_key: PublicKey) -> bytes:
    """The signed roster file for ``body``, signed with ``sign(message) -> signature``.

    ``body`` is checked first (a FieldError names the bad key), so the back office never signs
    a roster the units would refuse. The output is indented for people to read; only the
    body's canonical bytes are signed.
    """
    roster = Roster.from_body(body)
    envelope = sign_document(SIGNED_ROSTER, roster.body(), sign, public_key)
    return (json.dumps(envelope, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def verify_signed_roster(raw: bytes, public_key: PublicKey, *,
                         source: str = "roster") -> Roster:
    """The roster in the signed file ``raw`` if it is validly signed by ``public_key`` and
    well formed; dates are not checked here (see :func:`parse_signed_roster`).

    Raises :class:`RosterSignatureError` for an edited roster or another key's signature,
    :class:`RosterFormatError` for anything that is not a signed roster.
    """
    body = verify_document(SIGNED_ROSTER, raw, public_key, source=source)
    try:
        return Roster.from_body(body, signer=public_key)
    except FieldError as exc:
        raise RosterFormatError(f"{source}: signed but malformed: {exc}") from None


def parse_signed_roster(raw: bytes, public_key: PublicKey, on_date: dt.date, *,
                        min_serial: int | None = None, source: str = "roster") -> Roster:
    """:func:`verify_signed_roster`, and then the roster must be current on ``on_date``
    (``issued <= on_date <= expires``) and, if ``min_serial`` is given, no older than it."""
    roster = verify_signed_roster(raw, public_key, source=source)
    if on_date > roster.expires:
        raise RosterExpiredError(f"{source}: refused: the roster expired on "
                                 f"{roster.expires.isoformat()} (today is {on_date.isoformat()}); "
                                 "the back office must issue a new one")
    if on_date < roster.issued:
        raise RosterExpiredError(f"{source}: refused: the roster is issued for "
                                 f"{roster.issued.isoformat()}, after today "
                                 f"({on_date.isoformat()}); check the unit's clock")
    if min_serial is not None and roster.serial < min_serial:
        raise RosterRollbackError(f"{source}: refused: serial {roster.serial} is older than "
                                  f"the roster already in use (serial {min_serial})")
    return roster


def load_roster(path: str | os.PathLike, public_key: PublicKey, on_date: dt.date, *,
                min_serial: int | None = None) -> Roster:
    """The signed roster at ``path``, checked as :func:`parse_signed_roster` does. A missing
    or unreadable file raises :class:`RosterFormatError` naming it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RosterFormatError(f"{path}: cannot read the roster: {exc.strerror or exc}") \
            from None
    return parse_signed_roster(raw, public_key, on_date, min_serial=min_serial,
                               source=str(path))


def install_roster(raw: bytes, path: str | os.PathLike, public_key: PublicKey,
                   on_date: dt.date) -> Roster:
    """Check a roster delivered to the unit and, only if it is accepted, make it the unit's
    roster at ``path`` (written atomically; the old one stays if anything fails). A roster
    older than the one at ``path`` is refused."""
    path = Path(path)
    current = None
    if durable.lkind(path) != "missing":
        try:
            current = verify_signed_roster(durable.read_regular(path, MAX_ROSTER), public_key,
                                           source=str(path))
        except (RosterFormatError, RosterSignatureError):
            current = None  # a broken current roster must not block a good new one
    roster = parse_signed_roster(raw, public_key, on_date, source="new roster",
                                 min_serial=current.serial if current else None)
    durable.ensure_dir(path.parent, 0o755)
    durable.write_atomic(path, raw, 0o644)
    return roster
