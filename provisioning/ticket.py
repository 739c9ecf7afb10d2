"""The sales system's side of 双录 tickets, for set-up, demos and tests: its signing key and
issuing a ticket from a spec file (``dualrec-provision ticket keygen|issue``).

In production the insurer's or bank's sales system issues tickets with its own key; the
units are given only the public half (base64, in their configuration). The format is
:mod:`firmware.ticket`'s, so a ticket issued here is the same a real sales system would make.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import stat
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.errors import KeyFileError
from firmware.evidence.keys import DeviceKey
from firmware.ticket.codec import encode_ticket
from firmware.ticket.model import Ticket, ticket_from_spec
from provisioning.errors import ProvisioningError

PRIVATE_KEY_FILE = "sales.key"
PUBLIC_KEY_FILE = "sales.pub"
MAX_SPEC_BYTES = 64 * 1024


@dataclass(frozen=True)
class SalesKeyFiles:
    """A new sales-system key: the key, and where its private and public halves are."""

    key: DeviceKey
    private_path: Path
    public_path: Path


def _create(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    """Create ``name`` in the directory ``dir_fd``: never over an existing file, never
    through a symlink, ``mode`` from the first byte, fsynced."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode,
                 dir_fd=dir_fd)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; never wider than asked
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def generate_sales_key(out_dir: str | os.PathLike) -> SalesKeyFiles:
    """A new Ed25519 sales-system key in ``out_dir`` (created 0700; an existing one must not
    be open to others): ``sales.key`` (PEM, 0600) and ``sales.pub`` (base64, for the units'
    configuration). Existing key files are never overwritten (FileExistsError)."""
    out = Path(out_dir)
    try:
        out.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    dir_fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        mode = stat.S_IMODE(os.fstat(dir_fd).st_mode)
        if mode & 0o077:
            raise ProvisioningError(f"{out}: the key directory is open to others (mode "
                                    f"{mode:04o}); run: chmod 700 {out}")
        for name in (PRIVATE_KEY_FILE, PUBLIC_KEY_FILE):
            if os.path.lexists(out / name):
                raise FileExistsError(f"{out / name} exists already; a key is never "
                                      "overwritten (move it away first)")
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        key = DeviceKey(private, out / PRIVATE_KEY_FILE)
        _create(dir_fd, PRIVATE_KEY_FILE, pem, 0o600)
        _create(dir_fd, PUBLIC_KEY_FILE, (key.public.b64 + "\n").encode("ascii"), 0o644)
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return SalesKeyFiles(key, out / PRIVATE_KEY_FILE, out / PUBLIC_KEY_FILE)


def load_sales_key(path: str | os.PathLike) -> DeviceKey:
    """The sales-system private key at ``path`` (refused if others can read it)."""
    try:
        return DeviceKey.load(path)
    except KeyFileError as exc:
        raise KeyFileError(f"sales key: {exc}") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the sales key: {exc.strerror or exc}") \
            from None


def read_spec(path: str | os.PathLike) -> dict[str, Any]:
    """The ticket spec (JSON) at ``path``; numbers with decimals are read exactly
    (``12345.6`` stays 12345.6 yuan, not a float)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise ProvisioningError(f"{path}: cannot read the ticket spec: "
                                f"{exc.strerror or exc}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise ProvisioningError(f"{path}: larger than a ticket spec can be "
                                f"({MAX_SPEC_BYTES} bytes)")
    try:
        spec = json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProvisioningError(f"{path}: the ticket spec is not JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ProvisioningError(f"{path}: the ticket spec must be a JSON object")
    return spec


def issue_ticket(spec: dict[str, Any], key: DeviceKey, now: dt.datetime, *,
                 ticket_id: str | None = None, source: str = "ticket spec") -> tuple[Ticket, str]:
    """The ticket ``spec`` describes (see :func:`firmware.ticket.ticket_from_spec`), and its
    signed QR text. A spec with any problem raises TicketSpecError naming them all."""
    ticket = ticket_from_spec(spec, now, ticket_id=ticket_id, source=source)
    return ticket, encode_ticket(ticket, key.sign, key.public)


@dataclass(frozen=True)
class IssuedTicket:
    ticket: Ticket
    text: str
    qr_path: Path
    text_path: Path | None


def issue_files(spec_path: str | os.PathLike, key_path: str | os.PathLike,
                qr_path: str | os.PathLike, text_path: str | os.PathLike | None = None, *,
                now: dt.datetime | None = None) -> IssuedTicket:
    """``ticket issue``: read the spec, sign with the key, write the QR as a PNG and, if
    asked, the ``DRT1:`` text (one line)."""
    from firmware.ticket.qr import write_ticket_png  # OpenCV, only when drawing codes
    key = load_sales_key(key_path)
    ticket, text = issue_ticket(read_spec(spec_path), key,
                                now or dt.datetime.now(dt.timezone.utc), source=str(spec_path))
    qr = write_ticket_png(text, qr_path)
    out = None
    if text_path is not None:
        out = Path(text_path)
        out.write_text(text + "\n", encoding="ascii")
    return IssuedTicket(ticket, text, qr, out)
