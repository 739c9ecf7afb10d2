"""Errors of encryption at rest. Each roots in :class:`firmware.errors.DualrecError` and also
inherits the matching built-in, so callers may catch either."""
from __future__ import annotations

from firmware.errors import DualrecError, KeyFileError

__all__ = ["CryptoError", "KeyFileError", "KeyForgottenError", "KeyUnwrapError",
           "MediaAuthenticationError", "MediaFormatError", "MediaNameError",
           "TruncatedMediaError", "WriteAtError", "WriterClosedError", "WrongKeyError"]


class CryptoError(DualrecError):
    """Base of the errors of :mod:`firmware.evidence.crypto`."""


class MediaFormatError(CryptoError, ValueError):
    """The file is not encrypted dualrec media of a version this firmware reads."""


class MediaAuthenticationError(CryptoError, ValueError):
    """The bytes are not what the unit wrote: changed, reordered, dropped, or moved between
    names. ``chunk`` is the index of the chunk that failed (None: the file's structure, e.g. its
    end marker); ``offset`` and ``length`` locate the bad bytes in the file."""

    def __init__(self, message: str, *, chunk: int | None = None, offset: int | None = None,
                 length: int | None = None) -> None:
        super().__init__(message)
        self.chunk = chunk
        self.offset = offset
        self.length = length


class TruncatedMediaError(CryptoError, ValueError):
    """The file ends early (a power cut while it was written, or a cut). ``plaintext`` holds the
    authentic bytes of its complete chunks, ``chunks`` how many there were."""

    def __init__(self, message: str, *, plaintext: bytes = b"", chunks: int = 0) -> None:
        super().__init__(message)
        self.plaintext = plaintext
        self.chunks = chunks


class MediaNameError(CryptoError, ValueError):
    """The name to bind into encrypted media is empty, not a string, or too long."""


class WrongKeyError(CryptoError, ValueError):
    """The key given is not the one the data was encrypted or wrapped for; the message names
    both keys by their ids or fingerprints."""


class KeyUnwrapError(CryptoError, ValueError):
    """A wrapped session key (``session-key.json``) is malformed or not authentic."""


class KeyForgottenError(CryptoError, RuntimeError):
    """A session key was used after :meth:`SessionKey.forget` (the session ended)."""


class WriterClosedError(CryptoError, ValueError):
    """An encrypting writer was used after it was finished or abandoned."""


class WriteAtError(CryptoError, ValueError):
    """``write_at`` outside what can still be rewritten (bytes already written, in the first
    chunk)."""
