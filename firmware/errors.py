"""The one error root of the firmware. Each error also inherits the matching built-in."""
from __future__ import annotations

import errno


class DualrecError(Exception):
    """Base of every error the firmware raises on purpose."""


class ConfigError(DualrecError, ValueError):
    """A configuration file or value is unusable. The message names the file, key and line."""


class StorageError(DualrecError, OSError):
    """Evidence could not be written; what was sealed before is untouched."""


class DiskFullError(StorageError):
    """The disk filled while writing; the message names the file. Run recovery on next start."""


class LedgerClosedError(DualrecError, RuntimeError):
    """The ledger was closed, or stopped after a failed write; reopen (and recover) it."""


class LedgerDamagedError(StorageError):
    """The ledger is damaged so that no good record remains to continue the chain from."""


class NotEvidenceError(DualrecError, ValueError):
    """A path given as evidence is missing or is not a dualrec spool or session."""


class KeyFileError(DualrecError, ValueError):
    """A key file exists but cannot be used (wrong format, wrong mode); the message names it."""


def storage_error(exc: OSError, what: str) -> StorageError:
    """The firmware's error for a failed write of ``what``, keeping errno."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(exc.errno, f"disk full while writing {what}; everything sealed "
                             "before is intact, the next start recovers the rest")
    return StorageError(exc.errno, f"cannot write {what}: {exc.strerror or exc}")
