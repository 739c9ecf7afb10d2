"""Object keys: where each spool file lives in the bucket.

Every object of a unit lies under its *device root*, ``<prefix>/<device_id>``, at the file's
spool-relative path, so a downloaded device root is a spool:

    <root>/device/device.json
    <root>/ledger/NNNNNNNNNNNN.ledger          a ledger file, once closed (a later one exists)
    <root>/sessions/<session-id>/<name>        sealed session files
    <root>/recovered/<name>                    what recovery set aside, sealed by its GAP record
    <root>/ledger-tail/NNNNNNNNNNNN.ledger/SSSSSSSSSSSS-EEEEEEEEEEEE
                                               bytes [S, E) of a ledger file still being written

A ledger file is appended to until the unit rolls to the next one, but objects are written
once: so the open file goes up as consecutive *tail ranges*, each ending on a record
boundary, and as a whole object once it is closed. A verifier joins the ranges of a file
whose whole object is not there yet (docs/sync.md).
"""
from __future__ import annotations

import re

TAIL_DIR = "ledger-tail"
_TAIL = re.compile(r"^ledger-tail/(\d{12}\.ledger)/(\d{12})-(\d{12})$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


_DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
_PREFIX_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def device_root(prefix: str, device_id: str) -> str:
    """``<prefix>/<device_id>`` without leading, trailing or doubled slashes. The device id
    and every prefix component are validated (plain names: no ``..``, no way out of the
    prefix): ValueError names the one at fault."""
    if not isinstance(device_id, str) or not _DEVICE_ID.fullmatch(device_id):
        raise ValueError(f"device id {device_id!r} is not a valid device id (3 to 63 "
                         "lowercase letters, digits and '-', starting with a letter or digit)")
    if not isinstance(prefix, str):
        raise ValueError(f"prefix {prefix!r} is not a string: give the bucket prefix as text")
    parts = [p for p in prefix.strip("/").split("/") if p]
    for p in parts:
        if not _PREFIX_PART.fullmatch(p):
            raise ValueError(f"prefix {prefix!r}: component {p!r} is not a plain name "
                             "(letters, digits, '.', '_', '-'; starting with a letter or digit)")
    return "/".join(parts + [device_id])


def object_key(root: str, rel: str) -> str:
    """The key of the spool file ``rel`` (``/``-separated, relative to the spool root; each
    component a plain name; a trailing ``/`` makes a listing prefix)."""
    if not isinstance(rel, str):
        raise ValueError(f"spool path {rel!r} is not a string")
    for p in rel.rstrip("/").split("/"):
        if not _PREFIX_PART.fullmatch(p):
            raise ValueError(f"{rel!r} is not a plain spool path: component {p!r} is not a "
                             "plain name (no empty, '.' or '..' components, no leading '/')")
    return f"{root}/{rel}"


def tail_rel(ledger_name: str, start: int, end: int) -> str:
    """The relative key of bytes [start, end) of ledger file ``ledger_name``."""
    return f"{TAIL_DIR}/{ledger_name}/{start:012d}-{end:012d}"


def parse_tail_rel(rel: str) -> tuple[str, int, int] | None:
    """``(ledger_name, start, end)`` of a tail-range key (relative to the root), else None."""
    m = _TAIL.fullmatch(rel)
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else None


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX`` → (bucket, prefix without surrounding slashes)."""
    if not url.startswith("s3://"):
        raise ValueError(f"{url!r} is not an s3:// URL (expected s3://BUCKET/PREFIX)")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(f"{url!r}: {bucket!r} is not a valid bucket name")
    return bucket, prefix.strip("/")
