"""Test double of ``picamera2.outputs.output``: the base class encoders hand frames to."""
from __future__ import annotations

from typing import Any


class Output:
    """Receives encoded frames from an encoder, as picamera2's ``Output`` does.

    ``outputframe`` gets ``timestamp`` in microseconds since the encoder's first frame
    (picamera2's convention: ``SensorTimestamp / 1000`` minus that of the first frame).
    """

    def __init__(self, pts: Any = None) -> None:
        self.recording = False
        self.ptsoutput = pts
        self.needs_pacing = False
        self.needs_add_stream = False

    def start(self) -> None:
        self.recording = True

    def stop(self) -> None:
        self.recording = False

    def outputframe(self, frame: bytes | None, keyframe: bool = True, timestamp: int | None = None,
                    packet: Any = None, audio: bool = False) -> None:
        """Take one encoded frame; the base class does nothing with it."""

    def outputtimestamp(self, timestamp: int | None) -> None:
        """picamera2 writes timestamps to a pts file here; the double has no pts files."""

    def _add_stream(self, encoder_stream: Any, *args: Any, **kwargs: Any) -> None:
        """Told about the encoder's streams when it starts; nothing to do for this base."""
