"""Evidence: the spool, the ledger and the key together — the one way anything is sealed.

The recorder and the session flow call this; they never write the ledger directly.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import threading
from typing import Any, Callable

from drivers.clock import Clock
from firmware.evidence import durable, records
from firmware.evidence.durable import fsync_dir
from firmware.errors import storage_error
from firmware.evidence.keys import DeviceKey
from firmware.evidence.ledger import Ledger
from firmware.evidence.records import Record
from firmware.evidence.recovery import RecoveryReport, read_damage_state, recover
from firmware.evidence.session_manifest import SessionState, sealing_kind, session_manifest
from firmware.evidence.spool import SAFE_NAME, DeviceInfo, PartFile, Spool

log = logging.getLogger(__name__)


def default_device_id(key: DeviceKey) -> str:
    return "dr-" + key.public.fingerprint[:12]


class Evidence:
    """Seals files and events of sessions into the ledger of one spool.

    Use :meth:`open`: it runs recovery first (what a power cut left), then appends BOOT.
    """

    def __init__(self, spool: Spool, ledger: Ledger, clock: Clock,
                 insurer_key: Any = None) -> None:
        self.spool = spool
        self.insurer_key = insurer_key  # media of every session encrypted to this key
        self.ledger = ledger
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, SessionState] = {}
        self._closed = False
        self.recovery: RecoveryReport | None = None   # what the start found and did

    @classmethod
    def open(cls, spool_path: str | os.PathLike, key: DeviceKey, clock: Clock, *,
             device_id: str | None = None, certificate: str | None = None,
             checkpoint_every: int = 100, roll_bytes: int = 8 * 1024 * 1024,
             on_record: Callable[[Record], None] | None = None,
             boot_data: dict[str, Any] | None = None,
             insurer_key: Any = None, checkpoint_seconds: float = 5.0) -> "Evidence":
        spool = Spool(spool_path)
        spool.create_dirs()
        device_id = device_id or default_device_id(key)
        if durable.lkind(spool.root / "device" / "device.json") != "missing":
            info = spool.read_device_info()
            if info.device_id != device_id:
                raise ValueError(f"{spool.root} belongs to device {info.device_id}, not "
                                 f"{device_id}; use that unit's spool or a new directory")
            public_key = info.public_key  # the genesis key stays the anchor after rotations
        else:
            public_key = key.public.b64
        spool.write_device_info(DeviceInfo(device_id, public_key, certificate))
        report = recover(spool, key, clock, device_id=device_id,
                         checkpoint_every=checkpoint_every)
        ledger = Ledger(spool.ledger_dir, key, device_id, clock,
                        checkpoint_every=checkpoint_every, roll_bytes=roll_bytes,
                        on_record=on_record, health=None if report.changed else report.health,
                        checkpoint_seconds=checkpoint_seconds)
        evidence = cls(spool, ledger, clock, insurer_key)
        evidence.recovery = report
        ledger.append(records.BOOT, data={"firmware": _firmware_version(), **(boot_data or {})})
        return evidence

    @property
    def device_id(self) -> str:
        return self.ledger.device_id

    @property
    def head(self) -> Record | None:
        """The newest record of the chain."""
        return self.ledger.head

    def clock_record(self, data: dict[str, Any]) -> Record:
        """A CLOCK record: a step of wall time or a change of NTP sync (docs, section 4)."""
        return self.ledger.append(records.CLOCK, data=data)

    # -- sessions ----------------------------------------------------------------------------
    def start_session(self, data: dict[str, Any] | None = None) -> str:
        """Open a session: SESSION_START on the chain; returns its id (also its directory)."""
        now = dt.datetime.fromtimestamp(self.clock.realtime_ns() / 1e9, dt.timezone.utc)
        session_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        key, wrapped = None, None
        if self.insurer_key is not None:  # a wrapping that fails refuses the session
            from firmware.evidence.crypto import SessionKey, fingerprint, session_key_json, wrap
            key = SessionKey.generate()
            wrapped = session_key_json(wrap(key, self.insurer_key))
            data = {**(data or {}), "encryption": {
                "insurer_key_fingerprint": fingerprint(self.insurer_key),
                "key_id": key.key_id_hex}}
        with self._lock:
            # the record first: a crash between the two leaves a session with no files, never
            # a directory the chain does not know
            record = self.ledger.append(records.SESSION_START, session_id, data=data or {})
            try:
                os.mkdir(self.spool.session_dir(session_id), durable.DIR_MODE)
                os.chmod(self.spool.session_dir(session_id), durable.DIR_MODE)  # not the umask
                fsync_dir(self.spool.sessions_dir)
            except OSError as exc:
                raise storage_error(exc, f"session directory {session_id}") from exc
            self._sessions[session_id] = SessionState(session_id, record.seq, key=key)
        if wrapped is not None:  # the wrapped key, in the clear, before any media
            from firmware.evidence.crypto import SESSION_KEY_FILE
            part = self.spool.new_part(session_id, SESSION_KEY_FILE)
            part.write(wrapped)
            self.seal(session_id, [part], {"stream": "session_key", "key_id": key.key_id_hex})
        return session_id

    def _state(self, session_id: str) -> SessionState:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise ValueError(f"session {session_id!r} is not open") from None

    def new_file(self, session_id: str, name: str) -> PartFile:
        """A new file of the session (encrypted when the unit has an insurer key)."""
        return self.spool.new_part(session_id, name, self._state(session_id).key)

    def seal(self, session_id: str, parts: list[PartFile], data: dict[str, Any] | None = None,
             type: str = records.SEGMENT) -> Record:
        """Finish ``parts`` (fsync, rename) and append the record that covers them."""
        state = self._state(session_id)
        entries = [part.finish() for part in parts]
        with self._lock:
            record = self.ledger.append(type, session_id, entries, data or {})
            state.files.extend(entries)
            kind = sealing_kind(record)
            state.counts[kind] = state.counts.get(kind, 0) + 1
        return record

    def seal_bytes(self, session_id: str, name: str, content: bytes,
                   data: dict[str, Any] | None = None, type: str = records.SEGMENT) -> Record:
        """Write a small file whole and seal it (a photo, a signature, a manifest)."""
        part = self.new_file(session_id, name)
        try:
            part.write(content)
        except BaseException:
            part.abandon()
            raise
        return self.seal(session_id, [part], data, type)

    def seal_after_end(self, session_id: str, files: list[tuple[str, bytes, Any]],
                       data: dict[str, Any], *, covered: set[str]) -> Record:
        """Seal ``files`` (name, content, :class:`~firmware.evidence.crypto.SessionKey` to
        encrypt with or None) about a session that has ended, with one SEGMENT record (allowed
        by the evidence format; such files are covered by the chain, not by the manifest).
        ``covered`` holds the spool-relative paths records already cover: such a file is never
        touched (ValueError); a file of the same name that no record covers (left by a power
        cut between writing and recording) is replaced."""
        if session_id in self._sessions:
            raise ValueError(f"session {session_id} is still open: seal into it instead")
        entries = []
        for name, content, key in files:
            rel = f"sessions/{session_id}/{name}"
            if rel in covered:
                raise ValueError(f"{rel} is sealed already")
            final = self.spool.root / rel
            if durable.lkind(final) == "regular":
                os.unlink(final)                    # ours, never recorded: not evidence
            part = self.spool.new_part(session_id, name, key)
            try:
                part.write(content)
            except BaseException:
                part.abandon()
                raise
            entries.append(part.finish())
        with self._lock:
            return self.ledger.append(records.SEGMENT, session_id, entries, data)

    def event(self, kind: str, data: dict[str, Any] | None = None,
              session_id: str | None = None) -> Record:
        """An EVENT (a button press, a refusal, a prompt played) on the chain."""
        return self.ledger.append(records.EVENT, session_id, data={"kind": kind, **(data or {})})

    def gap(self, kind: str, start_ns: int, end_ns: int, data: dict[str, Any] | None = None,
            session_id: str | None = None) -> Record:
        """A GAP: something was lost between two CLOCK_MONOTONIC times; say what and why."""
        return self.ledger.append(records.GAP, session_id, data={
            "kind": kind, "start_ns": start_ns, "end_ns": end_ns, **(data or {})})

    def end_session(self, session_id: str, data: dict[str, Any] | None = None) -> Record:
        """SESSION_END with the manifest of every file sealed in it, then a CHECKPOINT."""
        with self._lock:
            state = self._state(session_id)
            manifest = session_manifest(state.files, state.counts, state.start_seq)
            record = self.ledger.append(records.SESSION_END, session_id,
                                        data={"manifest": manifest, **(data or {})})
            self.ledger.checkpoint()
            self.ledger.roll()
            del self._sessions[session_id]
        if state.key is not None:
            state.key.forget()  # from here on the unit cannot read what it recorded
        return record

    def prune_files(self, files: list[dict[str, Any]], data: dict[str, Any] | None = None
                    ) -> Record:
        """Free local space: a signed GAP (kind ``pruned``) naming each file and where its
        confirmed cloud copy is, then delete them. Each item of ``files`` is ``{"path"
        (relative to the spool root), "sha256", "size", "key" (object key), "version_id",
        "checksum" (the bucket's SHA-256 checksum)}``. Only sealed files of closed sessions
        may go (ValueError otherwise). A crash in between leaves files that are marked
        pruned but still intact, which verifies."""
        items = []
        for f in files:
            rel = str(f.get("path", ""))
            parts = rel.split("/")
            if len(parts) != 3 or parts[0] != "sessions" or not all(
                    SAFE_NAME.fullmatch(p) for p in parts[1:]):
                raise ValueError(f"{rel!r} is not a sealed session file")
            if parts[1] in self._sessions:
                raise ValueError(f"{rel!r}: session {parts[1]} is still open")
            if not f.get("version_id") or not f.get("checksum") or not f.get("key"):
                raise ValueError(f"{rel!r}: a pruned file must name its object, version and "
                                 "checksum in the bucket")
            items.append({"path": rel, "sha256": str(f["sha256"]), "size": int(f["size"]),
                          "key": str(f["key"]), "version_id": str(f["version_id"]),
                          "checksum": str(f["checksum"])})
        items.sort(key=lambda i: i["path"])
        now = self.clock.monotonic_ns()
        record = self.ledger.append(records.GAP, None, [], {
            "kind": "pruned", "start_ns": now, "end_ns": now, "files_pruned": items,
            **(data or {})})
        for item in items:
            try:
                (self.spool.root / item["path"]).unlink()
            except FileNotFoundError:
                pass
        return record

    def unacknowledged_damage(self) -> list[int]:
        """DAMAGE records nobody has acknowledged yet (the unit refuses to record)."""
        return [int(s) for s in read_damage_state(self.spool)["unacknowledged"]]

    @property
    def open_sessions(self) -> list[str]:
        return list(self._sessions)

    def close(self) -> None:
        """A clean stop: SHUTDOWN on the chain (open sessions say so), then close. Safe twice."""
        if self._closed:
            return
        self._closed = True
        for state in self._sessions.values():
            if state.key is not None:
                state.key.forget()
        try:
            self.ledger.append(records.SHUTDOWN, data={"open_sessions": self.open_sessions})
        finally:
            self.ledger.close()

    def __enter__(self) -> "Evidence":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _firmware_version() -> str:
    from firmware import __version__
    return __version__


def rotate_ledger_key(spool_path: str | os.PathLike, old: DeviceKey, new: DeviceKey,
                      clock: Clock, device_id: str) -> Record:
    """Switch a stopped unit's chain to ``new``: recovery first, then a KEY record signed by
    ``old`` holding ``new``'s proof, and a CHECKPOINT (docs/evidence-format.md, section 4)."""
    spool = Spool(spool_path)
    recover(spool, old, clock, device_id=device_id)
    with Ledger(spool.ledger_dir, old, device_id, clock, checkpoint_every=0) as ledger:
        record = ledger.rotate_key(new)
        ledger.checkpoint({"after": "key_rotation"})
    return record
