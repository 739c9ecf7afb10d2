"""Errors of the customer's screen, rooted in :mod:`firmware.errors`.

Each is a :class:`DisplayError` (hence a ``DualrecError``) and also the matching built-in; the
message names the thing at fault (the document's SHA-256 and title, the address, the field) and
says what to do.
"""
from __future__ import annotations

from firmware.errors import DualrecError


class DisplayError(DualrecError):
    """Base of every error the customer's screen raises on purpose."""


class ListenAddressError(DisplayError, ValueError):
    """``[display] listen`` is not ``HOST:PORT`` with an IP literal, or is not loopback while
    non-loopback addresses were not explicitly allowed."""


class DisplayClosedError(DisplayError, RuntimeError):
    """The display server was used before :meth:`start` or after :meth:`close`."""


class ViewError(DisplayError, ValueError):
    """A :class:`~firmware.unit.display.view.DisplayView` would show something it must not (an ID
    or phone number, an unmasked name) or is inconsistent (page 7 of 5)."""


class DocumentError(DisplayError, ValueError):
    """Base of the document library's errors; ``sha256`` names the document (or is "")."""

    def __init__(self, message: str, sha256: str = "") -> None:
        super().__init__(message)
        self.sha256 = sha256


class DocumentMissingError(DocumentError, FileNotFoundError):
    """A document the ticket or template names by SHA-256 is not in the library."""


class DocumentAlteredError(DocumentError):
    """A document's bytes no longer hash to the SHA-256 that names it."""


class DocumentUnreadableError(DocumentError):
    """A document's bytes hash right but are not a PDF pdfium can open, or the page asked for
    does not exist."""


class ManifestError(DocumentError):
    """The library's ``manifest.toml`` is unusable; the message names the file, key and reason."""
