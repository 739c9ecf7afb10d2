"""The back office's side of configuration bundles: ``dualrec-provision config sign|verify``.

A bundle changes the ``signed`` settings of the units in its scope (encryption, where evidence
goes and how long it stays, what is recorded and spoken, who may sell; the tier of every key is
in :mod:`firmware.config.model`). It is signed with the same back-office key as the staff roster
(``dualrec-provision roster keygen``), whose public half the units hold as ``[people]
backoffice_public_key``; the format is :mod:`firmware.config.bundle`'s. Operators deliver it
with ``dualrec-fleet cmd UNIT apply-config-bundle bundle=@BUNDLE`` (docs/mqtt.md).

``config sign --documents DIR`` also signs the document library of the customer's screen: DIR
holds the PDFs and a ``manifest.toml`` listing them (the library's format,
:mod:`firmware.config.documents`); every PDF is hashed here and must match its entry before
anything is signed. The bundle carries the manifest; the PDFs travel beside it (the same
directory) to ``dualrec config apply-bundle BUNDLE --documents DIR`` at the unit.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from firmware.config.bundle import (BundleFormatError, ConfigBundle, ConfigBundleError,
                                    format_time, sign_config_bundle, verify_config_bundle)
from firmware.config.documents import MANIFEST, MAX_DOCUMENTS, document_entries
from firmware.config.model import tier_of
from firmware.errors import DualrecError, KeyFileError
from firmware.evidence.durable import read_regular
from firmware.protocol.signed_document import read_public_key
from provisioning.files import write_file
from provisioning.roster import load_backoffice_key

MAX_CHANGES_BYTES = 64 * 1024
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024   # as the unit's library reads them


def read_changes(path: str | Path) -> dict[str, Any]:
    """The ``{section: {key: value}}`` changes in a TOML or JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleFormatError(f"{path}: cannot read the changes ({exc})") from None
    if len(text) > MAX_CHANGES_BYTES:
        raise BundleFormatError(f"{path}: larger than {MAX_CHANGES_BYTES} bytes")
    try:
        changes = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise BundleFormatError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}"
                                f": {exc}") from None
    if not isinstance(changes, dict):
        raise BundleFormatError(f"{path}: must hold {{section: {{key: value}}}}")
    return changes


def read_documents(directory: str | Path) -> list[dict[str, Any]]:
    """The documents of ``directory/manifest.toml``, each PDF beside it checked against its
    SHA-256 (never through a symlink); BundleFormatError names every problem at once."""
    directory = Path(directory)
    path = directory / MANIFEST
    try:
        data = tomllib.loads(read_regular(path, MAX_CHANGES_BYTES).decode("utf-8"))
    except (OSError, ValueError) as exc:   # TOMLDecodeError and UnicodeDecodeError included
        raise BundleFormatError(f"{path}: cannot read the documents' manifest ({exc})") \
            from None
    if set(data) - {"document"}:
        raise BundleFormatError(f"{path}: only [[document]] tables are allowed")
    entries, problems = document_entries(data.get("document", []), f"{path}: document")
    for entry in entries:
        pdf = directory / entry.file
        try:
            actual = hashlib.sha256(read_regular(pdf, MAX_DOCUMENT_BYTES)).hexdigest()
        except (OSError, ValueError) as exc:
            problems.append(f"{pdf}: cannot be read ({exc})")
            continue
        if actual != entry.sha256:
            problems.append(f"{pdf}: its SHA-256 is {actual}, the manifest says {entry.sha256}")
    if problems:
        raise BundleFormatError("the documents cannot be signed: " + "; ".join(problems))
    return [entry.to_dict() for entry in entries]


def _when(text: str) -> str:
    """``YYYY-MM-DD`` (the end of that day, UTC) or ``YYYY-MM-DDTHH:MM:SSZ``."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return format_time(dt.datetime.combine(day, dt.time(23, 59, 59), dt.timezone.utc))
        return format_time(dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.timezone.utc))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ") \
            from None


def bundle_body(changes: dict[str, Any], *, serial: int, devices: list[str],
                branches: list[str], expires: str | None = None,
                issued: dt.datetime | None = None,
                documents: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The body of a bundle (:mod:`firmware.config.bundle`), issued now unless told."""
    body: dict[str, Any] = {"serial": serial,
                            "issued": format_time(issued or dt.datetime.now(dt.timezone.utc)),
                            "scope": {"devices": devices, "branches": branches},
                            "config": changes}
    if expires:
        body["expires"] = expires
    if documents is not None:
        body["documents"] = documents
    return body


def describe(bundle: ConfigBundle) -> list[str]:
    """Lines for people: the serial, dates, scope, and each setting with its tier."""
    lines = [f"serial {bundle.serial}, issued {format_time(bundle.issued)}, "
             + (f"expires {format_time(bundle.expires)}" if bundle.expires else "no expiry"),
             f"scope: devices {', '.join(bundle.devices) or '-'}; branches "
             f"{', '.join(bundle.branches) or '-'}"]
    for section, values in sorted(bundle.config.items()):
        for key, value in sorted(values.items()):
            shown = json.dumps(value, ensure_ascii=False)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            lines.append(f"  [{section}] {key} = {shown}  ({tier_of(section, key)})")
    if bundle.documents is not None:
        lines.append(f"documents of the customer's screen: {len(bundle.documents)} (the "
                     "library is replaced by exactly these)")
        lines += [f"  {d.sha256}  {d.file}  {d.title}  ({d.min_page_seconds:g} s a page)"
                  for d in bundle.documents]
    return lines


def cmd_sign(args: argparse.Namespace) -> int:
    try:
        key = load_backoffice_key(args.key)
        changes = read_changes(args.changes)
        if args.inline_insurer_key:
            pem = Path(args.inline_insurer_key).read_text(encoding="ascii")
            changes.setdefault("encryption", {})["insurer_public_key"] = pem
        documents = read_documents(args.documents) if args.documents else None
        body = bundle_body(changes, serial=args.serial, devices=args.device,
                           branches=args.branch, expires=args.expires, documents=documents)
        raw = sign_config_bundle(body, key.sign, key.public)
        bundle = verify_config_bundle(raw, key.public, source=args.out)
        write_file(args.out, raw)
    except (DualrecError, OSError, UnicodeDecodeError) as exc:
        print(f"dualrec-provision config sign: {exc}", file=sys.stderr)
        return 2
    print(f"configuration bundle written to {args.out}, signed by {key.public.fingerprint}:")
    print("\n".join(describe(bundle)))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        public = read_public_key(args.public_key)
        raw = Path(args.bundle).read_bytes()
    except (KeyFileError, OSError) as exc:
        print(f"dualrec-provision config verify: {exc}", file=sys.stderr)
        return 2
    try:
        bundle = verify_config_bundle(raw, public, source=args.bundle)
        if args.device:
            bundle.check_for(args.device, args.branch or "", dt.datetime.now(dt.timezone.utc),
                             source=args.bundle)
    except BundleFormatError as exc:
        print(f"dualrec-provision config verify: {exc}", file=sys.stderr)
        return 2
    except ConfigBundleError as exc:
        print(f"REFUSED {exc}")
        return 1
    print(f"OK {args.bundle}: signed by {public.fingerprint}")
    print("\n".join(describe(bundle)))
    return 0


def add_config_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``config sign|verify`` to ``dualrec-provision``'s subparsers; each sets ``func``
    (``args.func(args)`` returns the exit code)."""
    config = subparsers.add_parser("config", help="configuration bundles signed by the back "
                                   "office (the settings operators cannot change)")
    sub = config.add_subparsers(dest="config_command", required=True)

    s = sub.add_parser("sign", help="sign configuration changes into a bundle for the units")
    s.add_argument("--key", required=True, help="the back-office private key (roster keygen)")
    s.add_argument("--serial", required=True, type=int,
                   help="the bundle's serial: above every serial the units accepted before")
    s.add_argument("--in", dest="changes", required=True,
                   help="the changes: TOML ([section] key = value) or JSON {section: {key: v}}")
    s.add_argument("--out", required=True, help="the signed bundle to write (JSON)")
    s.add_argument("--device", action="append", default=[], help="a unit it is for "
                   "(repeatable)")
    s.add_argument("--branch", action="append", default=[], help="a branch it is for "
                   "([mqtt] branch; repeatable)")
    s.add_argument("--expires", type=_when, help="refused by units after this "
                   "(YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)")
    s.add_argument("--inline-insurer-key", metavar="PEM", help="carry this insurer public key "
                   "in the bundle ([encryption] insurer_public_key)")
    s.add_argument("--documents", metavar="DIR", help="also sign the document library of the "
                   f"customer's screen: DIR holds the PDFs and {MANIFEST} (at most "
                   f"{MAX_DOCUMENTS}); the units then hold exactly these documents")
    s.set_defaults(func=cmd_sign)

    v = sub.add_parser("verify", help="check a bundle as a unit would: 0 accepted, 1 refused "
                       "(another key, edited, another unit's, expired), 2 unusable input")
    v.add_argument("bundle", help="the signed bundle")
    v.add_argument("--public-key", required=True,
                   help="the back-office public key: a .pub file or its base64 text")
    v.add_argument("--device", help="check the scope and expiry for this unit")
    v.add_argument("--branch", help="... of this branch")
    v.set_defaults(func=cmd_verify)
    return config
