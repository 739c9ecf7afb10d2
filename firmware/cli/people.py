"""``dualrec staff check`` and ``dualrec people check``: set-up and test commands.

``staff check`` binds a salesperson the way the counter does — from a badge image, a camera,
or a staff id typed by a technician — against a signed roster, and says whether they would be
accepted. ``people check`` checks a people.json (or hand-written people file) and prints its
publishable summary. Neither prints a customer's personal data.

Exit codes, as ``dualrec verify``: 0 accepted, 1 refused (with the reason), 2 unusable input
(roster refused or unreadable, key unreadable, file missing).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from firmware.errors import KeyFileError
from firmware.people import fields
from firmware.people.errors import FieldError, PeopleError, RosterError, StaffRefused
from firmware.people.roster import StaffEntry
from firmware.people.signed_roster import load_roster, read_public_key


def _date(text: str) -> dt.date:
    try:
        return fields.date(text, "--on")
    except FieldError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _entry_report(entry: StaffEntry) -> dict[str, Any]:
    return {"staff_id": entry.staff_id, "badge": entry.badge, "type": entry.identity.TYPE,
            "agent_code_hash": entry.identity.agent_code_hash,
            "valid_from": entry.valid_from.isoformat(),
            "valid_until": entry.valid_until.isoformat()}


def _report(args: argparse.Namespace, status: str, message: str,
            entry: StaffEntry | None) -> int:
    if args.json:
        out: dict[str, Any] = {"status": status, "message": message}
        if entry is not None:
            out["staff"] = _entry_report(entry)
        print(json.dumps(out, ensure_ascii=False, sort_keys=True))
    elif entry is not None:
        print(f"ACCEPTED staff {entry.staff_id} ({entry.identity.TYPE}, badge #{entry.badge}, "
              f"valid {entry.valid_from} to {entry.valid_until})")
    else:
        print(f"REFUSED ({status}): {message}")
    return 0 if entry is not None else 1


def _look_through_camera(args: argparse.Namespace, reader: Any, on: dt.date) -> Any:
    from drivers.camera import DiscardFrames, open_camera
    from drivers.clock import SystemClock
    clock = SystemClock()
    size = (640, 480) if args.camera == "sim" else (1280, 720)
    with open_camera(args.camera, clock=clock, width=size[0], height=size[1], fps=10) as camera:
        if args.show:
            if args.camera != "sim":
                raise PeopleError("--show works with the simulated camera only")
            camera.show_image(_read_image(args.show))  # type: ignore[attr-defined]
        camera.start(DiscardFrames())
        try:
            return reader.scan(camera, on, clock, timeout_s=args.timeout)
        finally:
            camera.stop()


def _read_image(path: str) -> Any:
    import cv2
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"{path}: not a readable image file")
    return image


def cmd_staff_check(args: argparse.Namespace) -> int:
    on = args.on or dt.date.today()
    try:
        key = read_public_key(args.backoffice_key)
        roster = load_roster(args.roster, key, on)
    except (RosterError, KeyFileError) as exc:
        print(f"dualrec staff check: {exc}", file=sys.stderr)
        return 2
    if args.staff_id:
        try:
            entry = roster.lookup(args.staff_id, on)
        except StaffRefused as exc:
            status = "not_valid" if roster.get(args.staff_id) else "not_on_roster"
            return _report(args, status, str(exc), None)
        return _report(args, "ok", f"staff id {entry.staff_id!r} accepted", entry)
    from firmware.people.badge_reader import BadgeReader
    reader = BadgeReader(roster)
    try:
        if args.badge:
            result = reader.read_image(_read_image(args.badge), on)
        else:
            result = _look_through_camera(args, reader, on)
    except (OSError, PeopleError, ValueError) as exc:
        print(f"dualrec staff check: {exc}", file=sys.stderr)
        return 2
    return _report(args, result.status, result.message, result.entry)


def cmd_people_check(args: argparse.Namespace) -> int:
    from firmware.people.people import People
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"dualrec people check: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        people = People.from_json(raw)
        if args.on is not None:
            people = People.create(application_number=people.application_number,
                                   salesperson=people.salesperson, customers=people.customers,
                                   session_date=args.on, staff_id=people.staff_id)
    except PeopleError as exc:
        print(f"INVALID {args.file}: {exc}")
        return 1
    summary = people.summary()
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, sort_keys=True))
    else:
        roles = ", ".join(f"{n} {role}" for role, n in summary["roles"].items() if n)
        print(f"VALID {args.file}: {roles}; salesperson {summary['salesperson']['type']}; "
              f"{'elder variant' if summary['elder'] else 'standard variant'} "
              f"(session date {people.session_date})")
    return 0


def add_people_parsers(subparsers: Any) -> None:
    """Add ``staff`` (``staff check``) and ``people`` (``people check``) to ``dualrec``'s
    subparsers; each sets ``func`` (``args.func(args)`` returns the exit code)."""
    staff = subparsers.add_parser("staff", help="bind a salesperson against the signed roster")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    c = staff_sub.add_parser(
        "check", help="would this badge / staff id be accepted? 0 accepted, 1 refused, "
        "2 unusable input (roster refused)")
    c.add_argument("--roster", required=True, help="the signed roster file")
    c.add_argument("--backoffice-key", required=True, metavar="KEY",
                   help="the back-office public key: a .pub file or its base64 text")
    how = c.add_mutually_exclusive_group(required=True)
    how.add_argument("--badge", metavar="IMAGE", help="a photo or scan of the badge")
    how.add_argument("--staff-id", help="a staff id typed in (set-up only)")
    how.add_argument("--camera", choices=("sim", "picamera2"),
                     help="look for a badge through the camera")
    c.add_argument("--show", metavar="IMAGE",
                   help="with --camera sim: the image held up to the simulated camera")
    c.add_argument("--timeout", type=float, default=10.0,
                   help="with --camera: seconds to look for a badge (default 10)")
    c.add_argument("--on", type=_date, help="the date to check for (default: today)")
    c.add_argument("--json", action="store_true", help="a machine-readable result")
    c.set_defaults(func=cmd_staff_check)

    people = subparsers.add_parser("people", help="check the people of a session")
    people_sub = people.add_subparsers(dest="people_command", required=True)
    p = people_sub.add_parser("check", help="check a people.json: 0 valid, 1 invalid, "
                              "2 unreadable; prints only its summary (no personal data)")
    p.add_argument("file", help="a people.json")
    p.add_argument("--on", type=_date,
                   help="count ages on this date instead of the file's session_date")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_people_check)
