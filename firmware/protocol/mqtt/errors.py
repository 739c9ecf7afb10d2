"""Errors of the fleet agent and the operator tools; each roots in :class:`DualrecError`."""
from __future__ import annotations

from firmware.errors import ConfigError, DualrecError


class FleetError(DualrecError):
    """Base of the errors the fleet agent and ``dualrec-fleet`` raise on purpose."""


class FleetSettingsError(ConfigError):
    """A broker URL, certificate or setting of the agent is unusable; the message says which."""


class PersonalDataError(FleetError, ValueError):
    """An outgoing payload holds what looks like personal information; it was not sent.

    The message names the JSON path (``$.data.phone``) and why; never the value itself.
    """


class OutboxCorruptError(FleetError, ValueError):
    """An outbox file could not be read; it was set aside (the message names both paths)."""


class CommandError(FleetError, ValueError):
    """A command was refused; ``code`` is the machine-readable reason in the error response."""

    def __init__(self, code: str, message: str, *, cmd_id: str | None = None,
                 command: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.cmd_id = cmd_id      # the command's id and name, when they could be read
        self.command = command


class BrokerUnreachableError(FleetError, ConnectionError):
    """The operator tool could not connect to (or was refused by) the broker."""
