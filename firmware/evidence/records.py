"""Evidence records: what each one holds, and how it is laid out as one line of the ledger.

A ledger line is ``BODY \\t SIGNATURE \\n``: BODY is the canonical JSON of the record
(:mod:`firmware.evidence.canonical`), SIGNATURE is the base64 Ed25519 signature over
``b"dualrec-record-v1\\n" + BODY``. The record's hash is SHA-256 over BODY; the next record
holds it in ``prev``. docs/evidence-format.md is the full description.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from firmware.evidence import canonical

FORMAT_VERSION = 1
SIGNING_CONTEXT = b"dualrec-record-v1\n"
KEY_PROOF_CONTEXT = b"dualrec-key-v1\n"
GENESIS_PREV = "0" * 64

BOOT = "BOOT"
SHUTDOWN = "SHUTDOWN"
KEY = "KEY"
SESSION_START = "SESSION_START"
SEGMENT = "SEGMENT"
EVENT = "EVENT"
GAP = "GAP"
SESSION_END = "SESSION_END"
CHECKPOINT = "CHECKPOINT"
CLOCK = "CLOCK"
DAMAGE = "DAMAGE"
RECORD_TYPES = frozenset({BOOT, SHUTDOWN, KEY, SESSION_START, SEGMENT, EVENT, GAP,
                          SESSION_END, CHECKPOINT, CLOCK, DAMAGE})

BODY_FIELDS = frozenset({"v", "seq", "prev", "type", "device", "session", "mono_ns", "boot_id",
                         "wall_ns", "sync", "files", "data", "key"})


class MalformedRecord(ValueError):
    """A ledger line that is not a well-formed record; the message says what is wrong."""


@dataclass(frozen=True)
class FileEntry:
    """One file a record covers: its path relative to the spool root, SHA-256 and size."""

    path: str
    sha256: str
    size: int

    def as_record(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class Record:
    """A parsed, signed record. ``body_bytes`` are the exact bytes that were hashed and signed."""

    body: dict[str, Any]
    body_bytes: bytes
    signature: bytes
    hash: str = field(repr=False)

    @property
    def seq(self) -> int:
        return self.body["seq"]

    @property
    def type(self) -> str:
        return self.body["type"]

    @property
    def session(self) -> str | None:
        return self.body["session"]

    @property
    def prev(self) -> str:
        return self.body["prev"]

    @property
    def data(self) -> dict[str, Any]:
        return self.body["data"]

    @property
    def files(self) -> list[FileEntry]:
        return [FileEntry(f["path"], f["sha256"], f["size"]) for f in self.body["files"]]

    def line(self) -> bytes:
        return self.body_bytes + b"\t" + base64.b64encode(self.signature) + b"\n"

    def witness(self) -> dict[str, Any]:
        """The form published to the fleet and stored by witnesses (``verify --checkpoint``)."""
        return {"line": self.line().decode("utf-8").rstrip("\n"), "seq": self.seq,
                "hash": self.hash, "device": self.body["device"]}


def record_hash(body_bytes: bytes) -> str:
    return hashlib.sha256(body_bytes).hexdigest()


def make_body(*, seq: int, prev: str, type: str, device: str, session: str | None,
              clock: dict[str, Any], files: list[FileEntry], data: dict[str, Any],
              key_fingerprint: str) -> dict[str, Any]:
    if type not in RECORD_TYPES:
        raise ValueError(f"unknown record type {type!r}; expected one of {sorted(RECORD_TYPES)}")
    return {"v": FORMAT_VERSION, "seq": seq, "prev": prev, "type": type, "device": device,
            "session": session, "mono_ns": clock["mono_ns"], "boot_id": clock["boot_id"],
            "wall_ns": clock["wall_ns"], "sync": clock["sync"],
            "files": [f.as_record() for f in files], "data": data, "key": key_fingerprint}


def sign_body(body: dict[str, Any], sign) -> Record:
    """Encode ``body`` canonically and sign it with ``sign(message) -> signature``."""
    body_bytes = canonical.encode(body)
    return Record(body, body_bytes, sign(SIGNING_CONTEXT + body_bytes), record_hash(body_bytes))


def _require(body: dict, name: str, kind: type | tuple[type, ...]) -> None:
    if name not in body:
        raise MalformedRecord(f"field {name!r} is missing")
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedRecord(f"field {name!r} has the wrong type ({type(value).__name__})")


def parse_line(line: bytes) -> Record:
    """Parse one ledger line (with or without its newline). Raises MalformedRecord."""
    line = line.rstrip(b"\n")
    body_bytes, sep, sig_b64 = line.partition(b"\t")
    if not sep:
        raise MalformedRecord("no signature (the line has no tab)")
    try:
        signature = base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedRecord("the signature is not base64") from None
    if len(signature) != 64 or base64.b64encode(signature) != sig_b64:
        raise MalformedRecord("the signature is not the canonical base64 of 64 bytes")
    try:
        body = json.loads(body_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedRecord(f"the body is not JSON ({exc})") from None
    except RecursionError:
        raise MalformedRecord("the body is nested too deeply") from None
    if not isinstance(body, dict):
        raise MalformedRecord("the body is not a JSON object")
    for name, kind in (("v", int), ("seq", int), ("prev", str), ("type", str), ("device", str),
                       ("mono_ns", int), ("boot_id", str), ("wall_ns", int), ("sync", dict),
                       ("files", list), ("data", dict), ("key", str)):
        _require(body, name, kind)
    if body["session"] is not None and not isinstance(body["session"], str):
        raise MalformedRecord("field 'session' must be a string or null")
    if body["v"] != FORMAT_VERSION:
        raise MalformedRecord(f"format version {body['v']} is not {FORMAT_VERSION}")
    if set(body) != BODY_FIELDS:
        raise MalformedRecord(f"unexpected fields {sorted(set(body) - BODY_FIELDS)}")
    for entry in body["files"]:
        if (not isinstance(entry, dict) or set(entry) != {"path", "sha256", "size"}
                or not isinstance(entry["path"], str) or not isinstance(entry["size"], int)
                or not isinstance(entry["sha256"], str)):
            raise MalformedRecord("a file entry is not {path, sha256, size}")
    if body["type"] not in RECORD_TYPES:
        raise MalformedRecord(f"unknown record type {body['type']!r}")
    try:
        if canonical.encode(body) != body_bytes:
            raise MalformedRecord("the body is not in canonical form")
    except (TypeError, ValueError) as exc:
        raise MalformedRecord(str(exc)) from None
    except RecursionError:
        raise MalformedRecord("the body is nested too deeply") from None
    return Record(body, body_bytes, signature, record_hash(body_bytes))
