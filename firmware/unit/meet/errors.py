"""Errors of the unit's meeting host; each roots in :class:`~firmware.errors.DualrecError`."""
from __future__ import annotations

from firmware.errors import DualrecError


class MeetingError(DualrecError, ValueError):
    """A meeting cannot be opened or used as asked; the message says why and what to do."""


class MeetingStateError(DualrecError, RuntimeError):
    """The host is in the wrong state for the call (a meeting is open already, or none is)."""
