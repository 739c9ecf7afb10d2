"""The spool: where evidence lives on the unit's disk, and how a file becomes sealed.

Layout (paths relative to the spool root; docs/evidence-format.md):

    device/device.json       the unit's id and public key (the verifier's trust anchor offline)
    ledger/NNNNNNNNNNNN.ledger   the hash-linked, signed records
    sessions/<session-id>/   the media, strokes, photos and manifests of one session
    recovered/               what recovery saved from a power cut (a torn ledger tail)
    state/                   operational state (sync progress, MQTT outbox): not evidence

A file is written as ``NAME.part``; :meth:`PartFile.finish` fsyncs it, renames it to NAME,
fsyncs the directory and returns its :class:`FileEntry` for the record that seals it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from firmware.errors import NotEvidenceError
from firmware.ledger import fsync_dir, storage_error
from firmware.ledger_files import LEDGER_DIR, ledger_files
from firmware.records import FileEntry

SESSIONS_DIR = "sessions"
DEVICE_DIR = "device"
RECOVERED_DIR = "recovered"
STATE_DIR = "state"
DEVICE_INFO = "device/device.json"
PART_SUFFIX = ".part"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def hash_file(path: Path, block: int = 1 << 20) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    size = 0
    buf = bytearray(block)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


@dataclass(frozen=True)
class DeviceInfo:
    device_id: str
    public_key: str          # base64 raw Ed25519
    certificate: str | None  # PEM of the enrolled device certificate (provisioning), if any


def device_info_text(info: DeviceInfo) -> str:
    """The exact text of device/device.json for ``info`` (the verifier compares it byte-wise)."""
    return json.dumps({"device_id": info.device_id, "algorithm": "ed25519",
                       "public_key": info.public_key, "certificate": info.certificate},
                      indent=2, sort_keys=True) + "\n"


class PartFile:
    """A file being written in the spool. Not evidence until :meth:`finish` and a record.

    With a ``session_key`` what reaches the disk is ciphertext (docs/encryption.md), and the
    record seals the ciphertext: verifying needs no key."""

    def __init__(self, root: Path, rel: str, session_key=None) -> None:
        self.rel = rel
        self.final = root / rel
        self.part = self.final.with_name(self.final.name + PART_SUFFIX)
        self._hash = hashlib.sha256()
        self._rehash = False
        self.size = 0
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            if self.final.exists():
                raise FileExistsError(f"{self.final} is sealed already; sealed files are never "
                                      "rewritten")
            self._f = open(self.part, "xb")
        except OSError as exc:
            if isinstance(exc, FileExistsError):
                raise
            raise storage_error(exc, str(self.part)) from exc
        self._enc = None
        if session_key is not None:
            from firmware.crypto import EncryptingWriter
            self._enc = EncryptingWriter(self._f, session_key, self.final.name)

    def write(self, data: bytes) -> None:
        try:
            if self._enc is not None:
                self._enc.write(data)
                return
            self._f.write(data)
        except OSError as exc:
            raise storage_error(exc, str(self.part)) from exc
        self._hash.update(data)
        self.size += len(data)

    def write_at(self, offset: int, data: bytes) -> None:
        """Overwrite bytes already written (a header whose sizes are known only at the end)."""
        if self._enc is not None:  # the first chunk only (a header): docs/encryption.md
            self._enc.write_at(offset, data)
            return
        try:
            self._f.seek(offset)
            self._f.write(data)
            self._f.seek(0, os.SEEK_END)
        except OSError as exc:
            raise storage_error(exc, str(self.part)) from exc
        self._rehash = True

    def flush(self) -> None:
        """Hand what was written to the kernel (no fsync: that happens at :meth:`finish`)."""
        try:
            if self._enc is not None:
                self._enc.flush()
            self._f.flush()
        except OSError as exc:
            raise storage_error(exc, str(self.part)) from exc

    def finish(self) -> FileEntry:
        """fsync, rename to the final name, fsync the directory; the entry for its record."""
        try:
            if self._enc is not None:
                self._enc.finish()
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            os.rename(self.part, self.final)
            fsync_dir(self.final.parent)
        except OSError as exc:
            raise storage_error(exc, str(self.part)) from exc
        if self._enc is not None:
            if self._enc.sha256 is None:  # the first chunk was rewritten: hash what is there
                return FileEntry(self.rel, *hash_file(self.final))
            return FileEntry(self.rel, self._enc.sha256, self._enc.size)
        if self._rehash:
            digest, size = hash_file(self.final)
        else:
            digest, size = self._hash.hexdigest(), self.size
        return FileEntry(self.rel, digest, size)

    def abandon(self) -> None:
        """Close without sealing: the ``.part`` stays for recovery to seal with a GAP."""
        if self._enc is not None and not self._f.closed:
            try:
                self._enc.abandon()
            except OSError:
                pass  # a full disk; recovery seals the complete chunks that reached the disk
        if not self._f.closed:
            try:
                self._f.close()
            except OSError:
                pass  # a full disk fails the final flush; recovery seals what reached the disk


class Spool:
    """The evidence directory of one unit."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.ledger_dir = self.root / LEDGER_DIR
        self.sessions_dir = self.root / SESSIONS_DIR

    @classmethod
    def open_existing(cls, root: str | os.PathLike) -> "Spool":
        """A spool that must exist already; :class:`NotEvidenceError` names what is missing."""
        spool = cls(root)
        if not spool.root.exists():
            raise NotEvidenceError(f"{spool.root}: no such file or directory")
        if not spool.ledger_dir.is_dir() or not ledger_files(spool.ledger_dir):
            raise NotEvidenceError(f"{spool.root}: not a dualrec spool (no ledger in "
                                   f"{LEDGER_DIR}/)")
        return spool

    def create_dirs(self) -> None:
        for name in (LEDGER_DIR, SESSIONS_DIR, DEVICE_DIR, STATE_DIR):
            try:
                (self.root / name).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise storage_error(exc, f"spool directory {self.root / name}") from exc

    def session_dir(self, session_id: str) -> Path:
        return self.sessions_dir / session_id

    def new_part(self, session_id: str, name: str, session_key=None) -> PartFile:
        """A new file ``sessions/<session_id>/<name>``; names are plain (no slashes); with a
        ``session_key`` it is encrypted as it is written."""
        for what, value in (("session id", session_id), ("file name", name)):
            if not SAFE_NAME.match(value) or value.endswith(PART_SUFFIX):
                raise ValueError(f"{what} {value!r} is not a plain file name "
                                 "(letters, digits, '.', '_', '-')")
        return PartFile(self.root, f"{SESSIONS_DIR}/{session_id}/{name}", session_key)

    def part_files(self) -> list[Path]:
        """Every unsealed ``.part`` file under sessions/ and recovered/."""
        found = []
        for top in (self.sessions_dir, self.root / RECOVERED_DIR):
            if top.is_dir():
                for dirpath, _dirs, names in os.walk(top):
                    found.extend(Path(dirpath) / n for n in names if n.endswith(PART_SUFFIX))
        return sorted(found)

    # -- the trust anchor -------------------------------------------------------------------
    def write_device_info(self, info: DeviceInfo) -> None:
        path = self.root / DEVICE_INFO
        path.parent.mkdir(parents=True, exist_ok=True)
        text = device_info_text(info)
        if path.exists() and path.read_text() == text:
            return
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.rename(tmp, path)
        fsync_dir(path.parent)

    def read_device_info(self) -> DeviceInfo:
        path = self.root / DEVICE_INFO
        try:
            raw = json.loads(path.read_text())
            return DeviceInfo(raw["device_id"], raw["public_key"], raw.get("certificate"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NotEvidenceError(f"{path}: unreadable device identity ({exc})") from None
