"""Errors of ``dualrec-provision``; each also inherits the matching built-in."""
from __future__ import annotations

from firmware.errors import DualrecError


class ProvisioningError(DualrecError, ValueError):
    """Provisioning cannot go on: bad arguments or inputs; the message says what to do."""


class CAError(ProvisioningError):
    """The CA directory is missing, incomplete, or its key is readable by others."""


class EnrolmentError(ProvisioningError):
    """A unit could not be enrolled (files already there, an invalid device id, ...)."""


class RotationError(ProvisioningError):
    """The evidence key could not be rotated (daemon running, key not the ledger's, ...)."""


class FileOwnerError(DualrecError, PermissionError):
    """Key files could not be handed to the service user (not running as root?)."""
