"""The 双录 ticket: the sales system's signed statement of which sale a session records.

Shared by the unit (checking, binding) and the office (issuing). A ticket is CBOR claims in
a COSE_Sign1 (Ed25519), zlib-compressed and base45-encoded behind ``DRT1:``, shown as a QR
code; :mod:`firmware.ticket.codec` and :mod:`firmware.ticket.wire` describe the layers.
Reading a code from images needs OpenCV and lives in :mod:`firmware.ticket.qr`, imported
only by those who read codes; the command line is :mod:`firmware.cli.ticket`.
"""
from firmware.ticket.check import CLOCK_SKEW, TicketChecker, TicketResult, UnitScope
from firmware.ticket.codec import PREFIX, decode_ticket, encode_ticket, is_ticket_text
from firmware.ticket.errors import (DISPLAY, EXPIRED, FORGED, MALFORMED, NOT_YET_VALID,
                                    REASONS, REUSED, WRONG_UNIT, TicketError, TicketRefused,
                                    TicketRegisterError, TicketSpecError)
from firmware.ticket.model import (MODES, Scope, Ticket, TicketPerson, application_hash,
                                   new_ticket_id, ticket_from_spec)
from firmware.ticket.product import FREQUENCIES, KINDS, InsurancePeriod, Product
from firmware.ticket.used import UsedTickets

__all__ = ["CLOCK_SKEW", "DISPLAY", "EXPIRED", "FORGED", "FREQUENCIES", "InsurancePeriod",
           "KINDS", "MALFORMED", "MODES", "NOT_YET_VALID", "PREFIX", "Product", "REASONS",
           "REUSED", "Scope", "Ticket", "TicketChecker", "TicketError", "TicketPerson",
           "TicketRefused", "TicketRegisterError", "TicketResult", "TicketSpecError",
           "UnitScope", "UsedTickets", "WRONG_UNIT", "application_hash", "decode_ticket",
           "encode_ticket", "is_ticket_text", "new_ticket_id", "ticket_from_spec"]
