"""``dualrec ticket check``: would this unit accept a ticket? For set-up and tests.

``dualrec ticket check QR.png|TICKET --sales-key PUB`` reads the ticket from an image of its
QR code (PNG or JPEG) or from a file holding its ``DRT1:`` text, and checks it as the unit
does: the signature against the sales system's key, the time (now, or ``--at``), the scope
against the unit (``--config`` or ``--device-id``/``--org``/``--outlet``; not checked when
none is given) and, with ``--used-dir``, the unit's register of used tickets (a check never
records a ticket as used). It prints the ticket's summary, never a name or a document
number.

Exit codes: 0 accepted, 1 refused (the reason code and message printed), 2 unusable input
(file missing or neither image nor ticket text, key unreadable).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from firmware.errors import ConfigError, KeyFileError
from firmware.people.errors import FieldError
from firmware.people.signed_roster import read_public_key
from firmware.ticket.check import NO_CODE, TicketChecker, TicketResult, UnitScope
from firmware.ticket.errors import TicketRegisterError
from firmware.ticket.model import timestamp
from firmware.ticket.used import UsedTickets


def _moment(text: str) -> dt.datetime:
    try:
        return timestamp(text, "--at")
    except FieldError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _unit_scope(args: argparse.Namespace) -> UnitScope | None:
    device_id, org, outlet = "", "", ""
    if args.config:
        from firmware.config.loading import load_config
        config = load_config(args.config)
        device_id, org, outlet = config.device.id, config.branch.org, config.branch.outlet
    device_id = args.device_id if args.device_id is not None else device_id
    org = args.org if args.org is not None else org
    outlet = args.outlet if args.outlet is not None else outlet
    if not (args.config or device_id or org or outlet):
        return None
    return UnitScope(device_id, org, outlet)


def _print(args: argparse.Namespace, result: TicketResult, scope: UnitScope | None) -> None:
    if args.json:
        out: dict[str, Any] = result.summary()
        out["scope_checked"] = scope is not None
        print(json.dumps(out, ensure_ascii=False, sort_keys=True))
        return
    if result.ok and result.ticket is not None and result.signer is not None:
        t = result.ticket
        print(f"ACCEPTED ticket {t.ticket_id}: application {t.application_hash}, "
              f"{t.product.kind} ({t.product.returns} returns), mode {t.mode}, "
              f"{len(t.people)} people ({len(t.remote_people)} remote), staff {t.staff_id}, "
              f"expires {t.expires.isoformat()}; signed by {result.signer.fingerprint}")
        if scope is None:
            print("  scope not checked: give --config or --device-id/--org/--outlet")
    else:
        print(f"REFUSED ({result.status}): {result.message}")
        if result.display:
            print(f"  {result.display}")


def cmd_ticket_check(args: argparse.Namespace) -> int:
    from firmware.ticket.qr import read_ticket_source  # OpenCV, only when reading codes
    try:
        keys = [read_public_key(value) for value in args.sales_key]
        scope = _unit_scope(args)
        if args.used_dir and not Path(args.used_dir).is_dir():
            raise OSError(f"{args.used_dir}: no such register directory")
        used = UsedTickets(args.used_dir) if args.used_dir else None
        checker = TicketChecker(keys, scope, used)
        text = read_ticket_source(args.source)
    except (KeyFileError, ConfigError, TicketRegisterError, OSError, ValueError) as exc:
        print(f"dualrec ticket check: {exc}", file=sys.stderr)
        return 2
    now = args.at or dt.datetime.now(dt.timezone.utc)
    if text is None:
        result = TicketResult(NO_CODE, f"{args.source}: no QR code could be read in the image")
    else:
        result = checker.result(text, now)
    _print(args, result, scope)
    return 0 if result.ok else 1


def add_ticket_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ticket check`` to ``dualrec``'s subparsers; it sets ``func`` (``args.func(args)``
    returns the exit code)."""
    ticket = subparsers.add_parser("ticket", help="双录 tickets: check one as this unit would")
    sub = ticket.add_subparsers(dest="ticket_command", required=True)
    c = sub.add_parser("check", help="check a ticket (QR image or its text): 0 accepted, "
                       "1 refused, 2 unusable input")
    c.add_argument("source", help="a PNG/JPEG of the ticket's QR code, or a file with its "
                   "DRT1: text")
    c.add_argument("--sales-key", required=True, action="append",
                   help="the sales system's public key: a .pub file or its base64 text "
                   "(repeatable, e.g. during a key change)")
    c.add_argument("--config", help="the unit's configuration: its [device] id and [branch]")
    c.add_argument("--device-id", help="this unit's device id (overrides --config)")
    c.add_argument("--org", help="this unit's branch org code (overrides --config)")
    c.add_argument("--outlet", help="this unit's outlet code (overrides --config)")
    c.add_argument("--used-dir", help="the unit's used-ticket register directory, to refuse a "
                   "ticket already used (read only)")
    c.add_argument("--at", type=_moment, help="check at this time (ISO 8601 with offset; "
                   "default: now)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(func=cmd_ticket_check)
    return ticket
