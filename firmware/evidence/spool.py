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

from firmware.evidence import durable
from firmware.evidence.durable import NotRegularFileError, fsync_dir, hash_regular
from firmware.errors import NotEvidenceError, storage_error
from firmware.evidence.ledger_files import LEDGER_DIR, ledger_files
from firmware.evidence.records import FileEntry

SESSIONS_DIR = "sessions"
DEVICE_DIR = "device"
RECOVERED_DIR = "recovered"
STATE_DIR = "state"
DEVICE_INFO = "device/device.json"
PART_SUFFIX = ".part"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SESSION_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
MAX_DEVICE_INFO = 64 * 1024

hash_file = hash_regular  # SHA-256 and size of a regular file; refuses anything else


def safe_rel(rel: str) -> bool:
    """A record path as the format allows it: relative, ``/``-separated, normalised, each
    component a plain name (no ``.``, ``..``, empty components, control characters)."""
    if not isinstance(rel, str) or not rel or len(rel) > 512:
        return False
    parts = rel.split("/")
    return all(SAFE_NAME.fullmatch(p) for p in parts)


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
            durable.ensure_dir(self.final.parent)
            if durable.lkind(self.final) != "missing":
                raise FileExistsError(f"{self.final} is sealed already; sealed files are never "
                                      "rewritten")
            self._f = os.fdopen(durable.open_new(self.part), "wb")
        except OSError as exc:
            if isinstance(exc, (FileExistsError, NotRegularFileError)):
                raise
            raise storage_error(exc, str(self.part)) from exc
        self._enc = None
        if session_key is not None:
            from firmware.evidence.crypto import EncryptingWriter
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
        self.state_dir = self.root / STATE_DIR        # operational state: not evidence
        self.device_info_path = self.root / DEVICE_INFO

    @classmethod
    def open_existing(cls, root: str | os.PathLike) -> "Spool":
        """A spool that must exist already; :class:`NotEvidenceError` names what is missing.
        The root may be reached through a symlink; its ``ledger/`` must be a real directory."""
        spool = cls(root)
        if not spool.root.exists():
            raise NotEvidenceError(f"{spool.root}: no such file or directory")
        if durable.lkind(spool.ledger_dir) != "directory" or not ledger_files(spool.ledger_dir):
            raise NotEvidenceError(f"{spool.root}: not a dualrec spool (no ledger in "
                                   f"{LEDGER_DIR}/)")
        return spool

    def create_dirs(self) -> None:
        """The spool's directories, mode 0750, each a real directory (a symlink in their place
        is refused: :class:`~firmware.evidence.durable.NotRegularFileError`)."""
        for name in ("", LEDGER_DIR, SESSIONS_DIR, DEVICE_DIR, STATE_DIR):
            try:
                durable.ensure_dir(self.root / name if name else self.root)
            except NotRegularFileError:
                raise
            except OSError as exc:
                raise storage_error(exc, f"spool directory {self.root / name}") from exc

    def session_dir(self, session_id: str) -> Path:
        return self.sessions_dir / session_id

    def new_part(self, session_id: str, name: str, session_key=None) -> PartFile:
        """A new file ``sessions/<session_id>/<name>``; names are plain (no slashes); with a
        ``session_key`` it is encrypted as it is written."""
        for what, value in (("session id", session_id), ("file name", name)):
            if not SAFE_NAME.fullmatch(value) or value.endswith(PART_SUFFIX):
                raise ValueError(f"{what} {value!r} is not a plain file name "
                                 "(letters, digits, '.', '_', '-')")
        return PartFile(self.root, f"{SESSIONS_DIR}/{session_id}/{name}", session_key)

    def part_files(self) -> list[tuple[Path, str]]:
        """Every unsealed ``*.part`` entry under sessions/ and recovered/, with what it is
        (``regular`` is the only kind ever sealed). Symlinked directories are not entered."""
        found = []
        for top in (self.sessions_dir, self.root / RECOVERED_DIR):
            if durable.lkind(top) != "directory":
                continue
            for entry in durable.walk(top):
                if entry.rel.endswith(PART_SUFFIX) and entry.kind != "directory":
                    found.append((top / entry.rel, entry.kind))
        return sorted(found)

    # -- the trust anchor -------------------------------------------------------------------
    def write_device_info(self, info: DeviceInfo) -> None:
        path = self.root / DEVICE_INFO
        durable.ensure_dir(path.parent)
        text = device_info_text(info).encode("utf-8")
        try:
            if durable.read_regular(path, MAX_DEVICE_INFO) == text:
                return
        except (OSError, ValueError):
            pass  # missing or not what it should be: written anew below
        try:
            durable.write_atomic(path, text)
        except OSError as exc:
            raise storage_error(exc, str(path)) from exc

    def read_device_info(self) -> DeviceInfo:
        """The unit's identity; :class:`NotEvidenceError` if the file is missing, not a
        regular file, too large, or not the expected JSON."""
        path = self.root / DEVICE_INFO
        try:
            raw = json.loads(durable.read_regular(path, MAX_DEVICE_INFO))
            info = DeviceInfo(raw["device_id"], raw["public_key"], raw.get("certificate"))
            if not (isinstance(info.device_id, str) and isinstance(info.public_key, str)
                    and isinstance(info.certificate, (str, type(None)))):
                raise TypeError("device_id, public_key and certificate must be strings")
            return info
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise NotEvidenceError(f"{path}: unreadable device identity ({exc})") from None
