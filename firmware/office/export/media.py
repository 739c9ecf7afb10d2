"""Reading a session's media files: the one place the export opens them.

Everything the export reads from ``sessions/<id>/`` (video, its ``.pts``, audio, signatures,
photos, ``analysis.json``) goes through a :data:`MediaOpener`, so that reading encrypted media
later means swapping this one function (:func:`media_opener` with a key).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from firmware.evidence import durable
from firmware.errors import DualrecError

#: Reads one sealed media file whole and returns its plain bytes.
MediaOpener = Callable[[Path], bytes]


class MediaKeyError(DualrecError, ValueError):
    """A decryption key was given that this firmware cannot use."""


def open_media(path: Path) -> bytes:
    """The bytes of the sealed file at ``path`` (stored in the clear)."""
    with durable.open_reading(path) as f:   # never through a symlink, never a FIFO
        return f.read()


def media_opener(key: Path | None) -> MediaOpener:
    """The opener for a session's media: plain reading without a key; with the insurer's
    private key, each session's ``session-key.json`` is unwrapped and media decrypted."""
    if key is None:
        return open_media
    from firmware.evidence.crypto import MediaDecryptor, load_insurer_private_key
    try:
        return MediaDecryptor(load_insurer_private_key(key))
    except (OSError, ValueError) as exc:
        raise MediaKeyError(f"--key {key}: {exc}") from None
