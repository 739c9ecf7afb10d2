"""Errors of evidence sync. Each roots in :class:`firmware.errors.DualrecError` and also
inherits the built-in a caller would catch for the same situation."""
from __future__ import annotations

from firmware.errors import DualrecError


class SyncError(DualrecError):
    """Base of the errors raised by :mod:`firmware.unit.sync`."""


class ObjectConflictError(SyncError, FileExistsError):
    """A different object already sits at the key: it is reported, never overwritten.

    ``key`` is the object key, ``expected`` the SHA-256 checksum (base64) the unit would have
    written, ``found`` what the bucket holds (its checksum, or why it could not be compared).
    """

    def __init__(self, key: str, expected: str, found: str) -> None:
        super().__init__(f"s3 object {key} exists with different content (expected SHA-256 "
                         f"{expected}, the bucket holds {found}); it was not overwritten: "
                         "find out who wrote it before doing anything else")
        self.key = key
        self.expected = expected
        self.found = found


class LocalFileMismatchError(SyncError, ValueError):
    """A local file no longer matches the record that sealed it; it is not uploaded
    (``dualrec verify`` on the spool names it)."""


class EndpointUnavailableError(SyncError, ConnectionError):
    """The storage endpoint could not be reached, or kept failing (5xx, timeouts) after the
    client's retries. The run stopped; everything not confirmed stays in the backlog."""


class BucketRefusedError(SyncError, PermissionError):
    """The bucket refused the unit (no such bucket, access denied, no Object Lock): a setup
    problem that retrying will not fix. The message says what the bucket owner must change."""


class ObjectRejectedError(SyncError, ValueError):
    """The bucket refused one object (a 4xx other than 412) for a reason that retrying the same
    request will not change; the other objects go on."""


class LocalFileLostError(SyncError, FileNotFoundError):
    """A sealed file is neither on the unit nor in the bucket: it was lost before upload."""
