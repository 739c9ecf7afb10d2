"""The back office's side of the staff roster: its signing key, signed rosters, staff badges.

``dualrec-provision roster keygen|sign|verify|badge``. The back office keeps the private key
(PEM, mode 0600) off the units; the units are given only its public half (base64, in their
configuration as ``[people] backoffice_public_key``). Rosters and badges are both signed with
it, under different context strings (docs/people.md).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.errors import KeyFileError
from firmware.evidence.keys import DeviceKey
from firmware.people import fields
from firmware.people.badge import make_badge_code
from firmware.people.errors import FieldError, PeopleError, RosterError, RosterFormatError
from firmware.people.roster import Roster, StaffEntry
from firmware.people.signed_roster import (parse_signed_roster, read_public_key, sign_roster,
                                           verify_signed_roster)

if TYPE_CHECKING:
    import numpy as np


def generate_backoffice_key(private_path: str | os.PathLike,
                            public_path: str | os.PathLike | None = None) -> DeviceKey:
    """Make a new back-office Ed25519 key: the private key at ``private_path`` (PEM, mode
    0600, written atomically; an existing file is never overwritten) and its public half in
    base64 at ``public_path`` (default: ``<private_path>.pub``)."""
    private_path = Path(private_path)
    if private_path.exists():
        raise KeyFileError(f"{private_path}: a key is already there; it is not overwritten "
                           "(move it away first if you really mean to replace it)")
    key = DeviceKey.load_or_create(private_path)  # an Ed25519 key written 0600, atomically
    public_path = Path(public_path) if public_path else private_path.with_name(
        private_path.name + ".pub")
    public_path.write_text(key.public.b64 + "\n", encoding="ascii")
    return key


def load_backoffice_key(path: str | os.PathLike) -> DeviceKey:
    """The back-office private key at ``path`` (refused if others can read it)."""
    try:
        return DeviceKey.load(path)
    except KeyFileError as exc:
        raise KeyFileError(f"back-office key: {exc}") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the back-office key: "
                           f"{exc.strerror or exc}") from None


def sign_roster_file(roster_path: str | os.PathLike, key: DeviceKey,
                     out_path: str | os.PathLike) -> Roster:
    """Sign the roster (unsigned JSON body) at ``roster_path`` into ``out_path``."""
    try:
        body = json.loads(Path(roster_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RosterFormatError(f"{roster_path}: cannot read the roster: {exc}") from None
    signed = sign_roster(body, key.sign, key.public)
    Path(out_path).write_bytes(signed)
    return verify_signed_roster(signed, key.public, source=str(out_path))


def badge_image(entry: StaffEntry, key: DeviceKey, *, module_px: int = 8) -> np.ndarray:
    """The printable badge of roster entry ``entry`` (BGR image), signed with ``key``."""
    from firmware.people.qr import qr_image  # OpenCV, loaded only to draw badges
    code = make_badge_code(entry.staff_id, entry.badge, key.sign)
    return qr_image(code.text, module_px=module_px,
                    label=f"{entry.staff_id}  #{entry.badge}")


def _read_any_roster(path: Path, key: DeviceKey) -> Roster:
    """A roster file, signed (then checked against ``key``) or not yet signed."""
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RosterFormatError(f"{path}: not JSON: {exc}") from None
    if isinstance(data, dict) and "signature" in data:
        return verify_signed_roster(raw, key.public, source=str(path))
    return Roster.from_body(data)


# -- the command line ----------------------------------------------------------------------
def _date(text: str) -> dt.date:
    try:
        return fields.date(text, "--on")
    except FieldError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_keygen(args: argparse.Namespace) -> int:
    try:
        key = generate_backoffice_key(args.out, args.public_out)
    except (KeyFileError, OSError) as exc:
        print(f"dualrec-provision roster keygen: {exc}", file=sys.stderr)
        return 2
    print(f"back-office key written to {args.out} (mode 0600); keep it off the units")
    print(f"public key (for [people] backoffice_public_key): {key.public.b64}")
    print(f"fingerprint: {key.public.fingerprint}")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    try:
        key = load_backoffice_key(args.key)
        roster = sign_roster_file(args.roster, key, args.out)
    except (PeopleError, KeyFileError, OSError) as exc:
        print(f"dualrec-provision roster sign: {exc}", file=sys.stderr)
        return 2
    print(f"signed roster written to {args.out}: {len(roster)} staff, serial {roster.serial}, "
          f"valid {roster.issued} to {roster.expires}, key {key.public.fingerprint}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    on = args.on or dt.date.today()
    try:
        public = read_public_key(args.public_key)
        raw = Path(args.roster).read_bytes()
    except (KeyFileError, OSError) as exc:
        print(f"dualrec-provision roster verify: {exc}", file=sys.stderr)
        return 2
    try:
        roster = parse_signed_roster(raw, public, on, source=args.roster)
    except RosterFormatError as exc:
        print(f"dualrec-provision roster verify: {exc}", file=sys.stderr)
        return 2
    except RosterError as exc:
        print(f"REFUSED {exc}")
        return 1
    valid = sum(1 for entry in roster if entry.valid_on(on))
    print(f"OK {args.roster}: signed by {public.fingerprint}, serial {roster.serial}, issued "
          f"{roster.issued}, expires {roster.expires}; {len(roster)} staff, {valid} valid on {on}")
    return 0


def cmd_badge(args: argparse.Namespace) -> int:
    import cv2
    try:
        key = load_backoffice_key(args.key)
        roster = _read_any_roster(Path(args.roster), key)
        wanted = args.staff_id or [entry.staff_id for entry in roster]
        missing = [sid for sid in wanted if roster.get(sid) is None]
        if missing:
            raise PeopleError(f"not on the roster: {', '.join(missing)}")
        out_dir = Path(args.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for sid in wanted:
            entry = roster.get(sid)
            assert entry is not None
            path = out_dir / f"{sid}.png"
            if not cv2.imwrite(str(path), badge_image(entry, key, module_px=args.module_px)):
                raise OSError(f"{path}: the image could not be written")
            print(f"badge #{entry.badge} of {sid}: {path}")
    except (PeopleError, KeyFileError, OSError) as exc:
        print(f"dualrec-provision roster badge: {exc}", file=sys.stderr)
        return 2
    return 0


def add_roster_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``roster keygen|sign|verify|badge`` to ``dualrec-provision``'s subparsers; each
    sets ``func`` (``args.func(args)`` returns the exit code)."""
    roster = subparsers.add_parser("roster", help="the back office's signed staff roster")
    sub = roster.add_subparsers(dest="roster_command", required=True)

    k = sub.add_parser("keygen", help="make the back-office signing key")
    k.add_argument("--out", required=True, help="private key file to create (PEM, 0600)")
    k.add_argument("--public-out", help="public key file (default: OUT.pub)")
    k.set_defaults(func=cmd_keygen)

    s = sub.add_parser("sign", help="sign a roster (JSON) for the units")
    s.add_argument("roster", help="the roster to sign (unsigned JSON; see docs/people.md)")
    s.add_argument("--key", required=True, help="the back-office private key")
    s.add_argument("--out", required=True, help="the signed roster to write")
    s.set_defaults(func=cmd_sign)

    v = sub.add_parser("verify", help="check a signed roster as a unit would: 0 accepted, "
                       "1 refused (edited, another key, expired), 2 unusable input")
    v.add_argument("roster", help="the signed roster")
    v.add_argument("--public-key", required=True,
                   help="the back-office public key: a .pub file or its base64 text")
    v.add_argument("--on", type=_date, help="check for this date (default: today)")
    v.set_defaults(func=cmd_verify)

    b = sub.add_parser("badge", help="make staff badge images (PNG QR codes)")
    b.add_argument("roster", help="the roster (signed or not yet signed)")
    b.add_argument("--key", required=True, help="the back-office private key")
    b.add_argument("--staff-id", action="append", default=[],
                   help="a staff id to make a badge for (repeatable; default: everyone)")
    b.add_argument("--out-dir", required=True, help="where to write <staff id>.png")
    b.add_argument("--module-px", type=int, default=8, help="pixels per QR module (default 8)")
    b.set_defaults(func=cmd_badge)
    return roster
