"""The register of tickets that already bound a session, so each ticket is used once.

One JSON file, ``used-tickets.json``, in a directory given in (on the unit, next to its other
state, not in the spool). Every :meth:`UsedTickets.claim` re-reads it under an exclusive
``flock``, adds the ticket, and replaces it atomically (a temporary file, fsync, rename,
fsync of the directory) before returning, so a claim survives a power cut and two processes
cannot both claim one ticket. Files are opened relative to the directory's descriptor with
``O_NOFOLLOW``: a symlink planted there is refused, never followed.

Bounded: an entry is dropped :data:`KEEP_AFTER_EXPIRY` after its ticket expires (an expired
ticket is refused anyway; the margin covers a clock set back), tickets live at most 31 days,
so the file stays small; past :data:`MAX_ENTRIES` live entries the register refuses to grow
(:class:`TicketRegisterError`) rather than forget one. A file that cannot be read is never
taken for an empty register: the unit then accepts no ticket until someone looks.
"""
from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

from firmware.ticket.errors import REUSED, TicketRefused, TicketRegisterError
from firmware.ticket.model import Ticket

REGISTER_FILE = "used-tickets.json"
LOCK_FILE = "used-tickets.lock"
REGISTER_FORMAT = "dualrec-used-tickets-v1"
MAX_ENTRIES = 20_000
KEEP_AFTER_EXPIRY = dt.timedelta(days=7)
_ENTRY_BYTES = 96  # generous size of one entry in the file
_TICKET_ID = re.compile(r"[0-9a-f]{16,32}")


class UsedTickets:
    """The used-ticket register in ``directory`` (created 0700 if missing)."""

    def __init__(self, directory: str | os.PathLike, *, max_entries: int = MAX_ENTRIES,
                 keep_after_expiry: dt.timedelta = KEEP_AFTER_EXPIRY) -> None:
        self.directory = Path(directory)
        self.max_entries = max_entries
        self.keep_after_expiry = keep_after_expiry
        self._lock = threading.Lock()
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise self._error(f"cannot make the directory {self.directory}", exc) from None
        self._with_dir(lambda fd: self._read(fd))  # a bad register is found at start

    def is_used(self, ticket_id: str) -> bool:
        """Whether a session was already bound by the ticket ``ticket_id``."""
        return ticket_id in self._with_dir(lambda fd: self._read(fd))

    def claim(self, ticket: Ticket, now: dt.datetime) -> None:
        """Record ``ticket`` as used at ``now`` (aware), on disk before returning.

        Raises :class:`TicketRefused` (``reused``) if it was used before, and
        :class:`TicketRegisterError` if the register cannot be read or written or is full.
        """
        def update(dir_fd: int) -> None:
            entries = self._read(dir_fd)
            if ticket.ticket_id in entries:
                used = dt.datetime.fromtimestamp(entries[ticket.ticket_id][1], dt.timezone.utc)
                raise TicketRefused(REUSED, f"ticket {ticket.ticket_id} already bound a session "
                                    f"at {used.isoformat()}")
            horizon = int((now - self.keep_after_expiry).timestamp())
            live = {tid: e for tid, e in entries.items() if e[0] >= horizon}
            if len(live) >= self.max_entries:
                raise TicketRegisterError(errno.ENOSPC, f"{self._path}: {len(live)} unexpired "
                                          "tickets recorded, the most it keeps; no ticket "
                                          "can be accepted until some expire")
            live[ticket.ticket_id] = (int(ticket.expires.timestamp()), int(now.timestamp()))
            self._write(dir_fd, live)
        self._with_dir(update)

    def __len__(self) -> int:
        return len(self._with_dir(lambda fd: self._read(fd)))

    # -- the file ----------------------------------------------------------------------------
    @property
    def _path(self) -> Path:
        return self.directory / REGISTER_FILE

    def _error(self, what: str, exc: OSError) -> TicketRegisterError:
        return TicketRegisterError(exc.errno, f"used-ticket register: {what}: "
                                   f"{exc.strerror or exc}")

    def _with_dir(self, action: Any) -> Any:
        """``action(dir_fd)`` with the directory open (not through a symlink) and the
        register locked against other threads and processes."""
        with self._lock:
            try:
                dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except OSError as exc:
                raise self._error(f"cannot open {self.directory}", exc) from None
            try:
                try:
                    lock_fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600,
                                      dir_fd=dir_fd)
                except OSError as exc:
                    raise self._error(f"cannot open {self.directory / LOCK_FILE}", exc) \
                        from None
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX)
                    return action(dir_fd)
                finally:
                    os.close(lock_fd)  # closing releases the flock
            finally:
                os.close(dir_fd)

    def _read(self, dir_fd: int) -> dict[str, tuple[int, int]]:
        """The entries on disk: ticket id -> (expires, used), epoch seconds."""
        limit = self.max_entries * _ENTRY_BYTES + 4096
        try:
            fd = os.open(REGISTER_FILE, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise self._error(f"cannot open {self._path} (a symlink is refused)", exc) \
                from None
        try:
            with os.fdopen(fd, "rb") as f:
                raw = f.read(limit + 1)
        except OSError as exc:
            raise self._error(f"cannot read {self._path}", exc) from None
        if len(raw) > limit:
            raise TicketRegisterError(errno.EFBIG, f"{self._path} is larger than a register "
                                      f"of {self.max_entries} tickets can be; move it aside "
                                      "after checking it")
        try:
            return _parse(raw)
        except ValueError as exc:
            raise TicketRegisterError(errno.EINVAL, f"{self._path} is damaged ({exc}); no "
                                      "ticket is accepted until it is repaired or moved "
                                      "aside (moving it lets old tickets be used again)") \
                from None

    def _write(self, dir_fd: int, entries: dict[str, tuple[int, int]]) -> None:
        data = {"format": REGISTER_FORMAT,
                "tickets": [{"id": tid, "expires": exp, "used": used}
                            for tid, (exp, used) in sorted(entries.items())]}
        raw = json.dumps(data, separators=(",", ":")).encode("ascii") + b"\n"
        tmp = REGISTER_FILE + ".tmp"
        try:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except FileNotFoundError:
                pass
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                         dir_fd=dir_fd)
            try:
                view = memoryview(raw)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, REGISTER_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            os.fsync(dir_fd)
        except OSError as exc:
            raise self._error(f"cannot write {self._path}", exc) from None


def _parse(raw: bytes) -> dict[str, tuple[int, int]]:
    data = json.loads(raw.decode("ascii"))
    if not isinstance(data, dict) or data.get("format") != REGISTER_FORMAT \
            or not isinstance(data.get("tickets"), list):
        raise ValueError(f"not a {REGISTER_FORMAT} file")
    entries: dict[str, tuple[int, int]] = {}
    for item in data["tickets"]:
        if not (isinstance(item, dict) and isinstance(item.get("id"), str)
                and _TICKET_ID.fullmatch(item["id"])
                and all(type(item.get(k)) is int for k in ("expires", "used"))):
            raise ValueError("an entry is not {id, expires, used}")
        entries[item["id"]] = (item["expires"], item["used"])
    return entries
