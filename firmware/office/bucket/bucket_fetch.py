"""Fetching a unit's evidence from the bucket into a local directory laid out as a spool.

Each object's latest version is downloaded to its spool-relative path (the key below the
device root) and hashed on the way; its versions, checksum, lock and hold are noted for
:mod:`firmware.office.bucket.bucket_verify`. Ledger tail ranges are joined into the ledger file they
belong to when that file's whole object is not there yet.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from firmware.evidence.ledger_files import LEDGER_DIR
from firmware.evidence.spool import DEVICE_INFO, SESSIONS_DIR
from firmware.protocol.bucket.layout import TAIL_DIR, parse_tail_rel
from firmware.protocol.bucket.tails import join_ranges
from firmware.protocol.bucket.objects import b64, composite_checksum

_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FetchedObject:
    """The latest version of one object under the device root, as downloaded."""

    rel: str                      # key below the device root
    size: int
    sha256: str                   # hex SHA-256 of the downloaded bytes
    checksum: str | None          # the bucket's x-amz-checksum-sha256
    checksum_ok: bool             # it matches the bytes (whole-object or composite)
    versions: int                 # versions and delete markers at this key
    lock_mode: str | None
    retain_until: Any
    legal_hold: bool


@dataclass
class Fetched:
    root: str
    dest: Path
    objects: dict[str, FetchedObject] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)          # latest version: delete marker
    unplaceable: list[str] = field(default_factory=list)      # keys that are no spool path
    range_problems: list[tuple[str, str]] = field(default_factory=list)  # (ledger rel, why)
    joined: list[str] = field(default_factory=list)           # ledger files made from ranges
    bytes: int = 0


def find_roots(client: Any, bucket: str, prefix: str) -> tuple[list[str], str | None]:
    """Device roots under ``prefix`` (itself, or its children holding device/device.json),
    and the session id when ``prefix`` names one session (``<root>/sessions/<id>``)."""
    parts = prefix.split("/") if prefix else []
    if len(parts) >= 2 and parts[-2] == SESSIONS_DIR:
        return ["/".join(parts[:-2])], parts[-1]
    if _exists(client, bucket, f"{prefix}/{DEVICE_INFO}" if prefix else DEVICE_INFO):
        return [prefix], None
    roots = []
    below = f"{prefix}/" if prefix else ""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=below,
                                                                  Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            root = common["Prefix"].rstrip("/")
            if _exists(client, bucket, f"{root}/{DEVICE_INFO}"):
                roots.append(root)
    return roots, None


def _exists(client: Any, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except Exception as exc:  # noqa: BLE001
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return False
        raise


def _versions(client: Any, bucket: str, root: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    deleted = set()
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket,
                                                                       Prefix=f"{root}/"):
        for v in page.get("Versions", []):
            counts[v["Key"]] = counts.get(v["Key"], 0) + 1
        for m in page.get("DeleteMarkers", []):
            counts[m["Key"]] = counts.get(m["Key"], 0) + 1
            if m.get("IsLatest"):
                deleted.add(m["Key"])
    return {k: (-n if k in deleted else n) for k, n in counts.items()}


def _placeable(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return bool(parts) and "/".join(parts) == rel and all(_SAFE_PART.match(p) for p in parts)


def _wanted(rel: str, session: str | None) -> bool:
    if session is None:
        return True
    return (rel == DEVICE_INFO or rel.startswith((f"{LEDGER_DIR}/", f"{TAIL_DIR}/",
                                                  f"{SESSIONS_DIR}/{session}/")))


def _download(client: Any, bucket: str, key: str, out) -> tuple[dict, str, list[bytes], int]:
    """Stream an object into ``out``; its GET answer, hex SHA-256, part digests, size."""
    r = client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    meta = r.get("Metadata") or {}
    part_size = int(meta["part-size"]) if meta.get("part-size", "").isdigit() else 0
    full = hashlib.sha256()
    part = hashlib.sha256()
    in_part = 0
    digests: list[bytes] = []
    size = 0
    for chunk in r["Body"].iter_chunks(_CHUNK):
        full.update(chunk)
        size += len(chunk)
        out.write(chunk)
        while part_size and chunk:
            take = chunk[:part_size - in_part]
            part.update(take)
            in_part += len(take)
            chunk = chunk[len(take):]
            if in_part == part_size:
                digests.append(part.digest())
                part, in_part = hashlib.sha256(), 0
    if part_size and in_part:
        digests.append(part.digest())
    return r, full.hexdigest(), digests, size


def _checksum_ok(found: str | None, sha256: str, digests: list[bytes]) -> bool:
    if not found:
        return False
    base = found.split("-")[0]
    return base == b64(bytes.fromhex(sha256)) or (bool(digests)
                                                  and base == composite_checksum(digests))


def fetch_root(client: Any, bucket: str, root: str, dest: Path,
               session: str | None = None) -> Fetched:
    """Download the objects under ``root`` (only those a session needs, when ``session``)."""
    fetched = Fetched(root, Path(dest))
    tails: dict[str, list[tuple[int, int, bytes]]] = {}
    for key, n in sorted(_versions(client, bucket, root).items()):
        rel = key[len(root) + 1:]
        if not _wanted(rel, session):
            continue
        if n < 0:
            fetched.deleted.append(rel)
            continue
        if not _placeable(rel):
            fetched.unplaceable.append(rel)
            continue
        tail = parse_tail_rel(rel)
        if rel.startswith(f"{TAIL_DIR}/") and tail is None:
            fetched.unplaceable.append(rel)
            continue
        target = None if tail else fetched.dest / rel
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
        sink = open(target, "wb") if target is not None else _Buffer()
        with sink as out:
            answer, sha256, digests, size = _download(client, bucket, key, out)
        if tail is not None:
            tails.setdefault(tail[0], []).append((tail[1], tail[2], out.getvalue()))
        fetched.bytes += size
        found = answer.get("ChecksumSHA256")
        fetched.objects[rel] = FetchedObject(
            rel, size, sha256, found, _checksum_ok(found, sha256, digests), n,
            answer.get("ObjectLockMode"), answer.get("ObjectLockRetainUntilDate"),
            answer.get("ObjectLockLegalHoldStatus") == "ON")
    for name, ranges in sorted(tails.items()):
        _place_ledger(fetched, name, ranges)
    return fetched


def _place_ledger(fetched: Fetched, name: str, ranges: list[tuple[int, int, bytes]]) -> None:
    """Join the tail ranges of one ledger file; check them against its whole object."""
    rel = f"{LEDGER_DIR}/{name}"
    joined, problems = join_ranges(ranges)
    fetched.range_problems += [(rel, p) for p in problems]
    path = fetched.dest / rel
    if path.exists():
        if path.read_bytes()[:len(joined)] != joined:
            fetched.range_problems.append((rel, "its tail ranges differ from the whole file"))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(joined)
    fetched.joined.append(rel)


class _Buffer:
    """A bytes sink with the file-like context protocol, for ranges kept in memory."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._parts.append(data)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)

    def __enter__(self) -> "_Buffer":
        return self

    def __exit__(self, *exc) -> None:
        pass
