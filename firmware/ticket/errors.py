"""Errors about 双录 tickets, rooted in :mod:`firmware.errors`.

A ticket the unit refuses is a :class:`TicketRefused` carrying one reason code from
:data:`REASONS`; its ``message`` (English, for logs and the chain) and ``display`` (Chinese,
for the panel's display and the customer screen) say what happened and what to do. A ticket
spec the sales system or the office gets wrong is a :class:`TicketSpecError` naming every
problem at once.
"""
from __future__ import annotations

from typing import Sequence

from firmware.errors import DualrecError, StorageError

FORGED = "forged"                # not signed by a sales-system key this unit trusts
EXPIRED = "expired"              # past its expiry on the unit's clock
NOT_YET_VALID = "not_yet_valid"  # issued after the unit's time (beyond the allowed skew)
REUSED = "reused"                # a session was already bound by this ticket
WRONG_UNIT = "wrong_unit"        # issued for another branch, outlet or unit
MALFORMED = "malformed"          # not a dualrec ticket, damaged, or over a size bound
REASONS = (FORGED, EXPIRED, NOT_YET_VALID, REUSED, WRONG_UNIT, MALFORMED)

#: What the panel's display says for each reason (short Chinese sentences, for staff).
DISPLAY = {
    FORGED: "双录二维码签名无效：不是本机信任的销售系统签发的，请在销售系统重新生成。",
    EXPIRED: "双录二维码已过期，请在销售系统重新生成。",
    NOT_YET_VALID: "双录二维码尚未生效：请检查本机时间，或稍后再试。",
    REUSED: "该双录二维码已使用过，每张只能使用一次，请在销售系统重新生成。",
    WRONG_UNIT: "该双录二维码不是为本网点或本设备签发的，请核对网点后重新生成。",
    MALFORMED: "无法识别：请出示销售系统生成的双录二维码。",
}


class TicketError(DualrecError, ValueError):
    """Base of every error about a 双录 ticket."""


class TicketSpecError(TicketError):
    """A ticket (or the spec it is issued from) breaks its rules. ``problems`` lists every
    one as ``"<field path>: <rule>"``; personal data is never repeated in them."""

    def __init__(self, problems: Sequence[str], source: str = "ticket") -> None:
        self.problems = tuple(problems)
        self.source = source
        super().__init__(f"{source}: invalid ticket:\n  " + "\n  ".join(self.problems))


class TicketRefused(TicketError):
    """The unit refuses a ticket. ``reason`` is one of :data:`REASONS`; ``message`` says why
    in English (logs, the chain); ``display`` is the Chinese text for the panel's display."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown ticket refusal reason {reason!r}; one of {REASONS}")
        self.reason = reason
        self.message = message
        self.display = DISPLAY[reason]
        super().__init__(f"ticket refused ({reason}): {message}")


class TicketRegisterError(StorageError):
    """The register of used tickets cannot be read or written; the unit then accepts no
    ticket (it cannot tell a reused one). The message names the file and what to do."""
