"""The one error root of the firmware. Each error also inherits the matching built-in."""
from __future__ import annotations


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


class NotEvidenceError(DualrecError, ValueError):
    """A path given as evidence is missing or is not a dualrec spool or session."""


class KeyFileError(DualrecError, ValueError):
    """A key file exists but cannot be used (wrong format, wrong mode); the message names it."""
