"""The error root of the drivers. Each error also inherits the matching built-in."""


class DriverError(Exception):
    """Base of every error a driver raises."""


class DeviceMissingError(DriverError, FileNotFoundError):
    """A real backend could not find or open its device; the message names the device."""


class DeviceLostError(DriverError, ConnectionError):
    """A device went away while in use (unplugged, crashed)."""


class BadDriverArgument(DriverError, ValueError):
    """A driver was given a value it cannot use; the message names the argument."""
