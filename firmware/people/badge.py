"""The text in a staff badge's QR code, and its signature.

A badge code is ``DRSTAFF1:<staff id>:<badge number>:<signature>``, where ``signature`` is
the back office's Ed25519 signature over ``b"dualrec-badge-v1\\n" +
b"DRSTAFF1:<staff id>:<badge number>"``, in unpadded base64url (86 characters). About 110
characters in all: a version-7 QR code at error-correction level M.

Why a signature and not a short check: staff ids are not secret (they are on name tags and in
e-mails), so a badge carrying only the id could be printed by anyone to sell under a
colleague's name. Signed, a badge can be made only by the back office, and the unit checks it
offline with the key it already trusts for the roster. An HMAC would need its key on every
unit, where anyone who opens one could take it and mint badges for the whole fleet. The
badge number lets the back office retire a lost badge: the roster names each member's current
badge number, and a badge with another number is refused. A copy of a genuine badge still
reads as genuine: that is why the session also records the salesperson showing their face and
practice certificate to the camera; the badge binds the identity, the video proves the person.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Callable

from firmware.evidence.keys import PublicKey
from firmware.people import fields
from firmware.people.errors import BadgeError
from firmware.people.roster import BADGE_MAX

BADGE_PREFIX = "DRSTAFF1"
BADGE_SIGNING_CONTEXT = b"dualrec-badge-v1\n"
_CODE = re.compile(r"DRSTAFF1:([A-Za-z0-9][A-Za-z0-9_-]{0,31}):([1-9][0-9]{0,5}):"
                   r"([A-Za-z0-9_-]{86})")


@dataclass(frozen=True)
class BadgeCode:
    """A parsed badge code; :meth:`verify` checks its signature."""

    staff_id: str
    badge: int
    signature: bytes

    @property
    def signed_part(self) -> bytes:
        """``DRSTAFF1:<staff id>:<badge number>``, the text the signature covers."""
        return f"{BADGE_PREFIX}:{self.staff_id}:{self.badge}".encode("ascii")

    @property
    def text(self) -> str:
        """The whole code, as put in the QR."""
        sig = base64.urlsafe_b64encode(self.signature).decode("ascii").rstrip("=")
        return f"{self.signed_part.decode('ascii')}:{sig}"

    def verify(self, public_key: PublicKey) -> bool:
        """Whether the back-office key ``public_key`` signed this badge."""
        return public_key.verify(self.signature, BADGE_SIGNING_CONTEXT + self.signed_part)


def make_badge_code(staff_id: str, badge: int, sign: Callable[[bytes], bytes]) -> BadgeCode:
    """A badge code for ``staff_id``'s badge number ``badge``, signed with
    ``sign(message) -> signature`` (the back office's key)."""
    fields.staff_id(staff_id, "staff_id")
    fields.whole_number(badge, "badge", 1, BADGE_MAX)
    unsigned = BadgeCode(staff_id, badge, b"")
    signature = sign(BADGE_SIGNING_CONTEXT + unsigned.signed_part)
    if len(signature) != 64:
        raise BadgeError(f"an Ed25519 signature is 64 bytes, the signer gave {len(signature)}")
    return BadgeCode(staff_id, badge, signature)


def is_badge_text(text: str) -> bool:
    """Whether ``text`` at least claims to be a dualrec badge (starts ``DRSTAFF1:``)."""
    return text.startswith(BADGE_PREFIX + ":")


def parse_badge_code(text: str) -> BadgeCode:
    """The badge code in ``text``; raises :class:`BadgeError` when it is not one (its
    signature is not checked here)."""
    match = _CODE.fullmatch(text)
    if match is None:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise BadgeError(f"not a dualrec staff badge code ({shown!r}); expected "
                         f"{BADGE_PREFIX}:<staff id>:<badge number>:<signature>")
    staff_id, badge, sig = match.groups()
    try:
        signature = base64.urlsafe_b64decode(sig + "==")
    except (binascii.Error, ValueError):
        raise BadgeError("the badge signature is not base64url") from None
    return BadgeCode(staff_id, int(badge), signature)
