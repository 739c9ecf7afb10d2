"""Test double of ``picamera2.encoders.encoder``: the encoder base class and its contract.

What it keeps of the real one: ``output`` accepts an ``Output`` or a list of them (anything else
raises ``RuntimeError``); ``start()`` starts the outputs, ``stop()`` stops them after the
encoder has flushed; ``encode(stream, request)`` is called by the camera for each completed
request; timestamps handed to ``outputframe`` are microseconds since the first frame, worked
out from the request's ``SensorTimestamp`` (nanoseconds) as ``int(ns / 1000)``, with the first
frame's value kept in ``firsttimestamp``.
"""
from __future__ import annotations

import threading
from enum import Enum
from typing import Any

from ..outputs import Output


class Quality(Enum):
    VERY_LOW = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    VERY_HIGH = 4


class Encoder:
    def __init__(self, framerate: float | None = 30) -> None:
        self.width = 0
        self.height = 0
        self.stride = 0
        self.format: str | None = None
        self.name: str | None = None
        self.framerate = framerate
        self.firsttimestamp: int | None = None
        self.frames_encoded = 0
        self._output: list[Output] = []
        self._running = False
        self._lock = threading.Lock()
        self._output_lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def output(self) -> Output | list[Output]:
        return self._output[0] if len(self._output) == 1 else self._output

    @output.setter
    def output(self, value: Output | list[Output]) -> None:
        outputs = value if isinstance(value, list) else [value]
        if not all(isinstance(out, Output) for out in outputs):
            raise RuntimeError("Must pass Output")
        self._output = outputs

    def start(self, quality: Quality | None = None) -> None:
        with self._lock:
            if self._running:
                raise RuntimeError("Encoder already running")
            self.frames_encoded = 0
            self._setup(quality)
            self._running = True
            self.firsttimestamp = None
            for out in self._output:
                out.start()
            self._start()

    def stop(self) -> None:
        with self._lock:
            if not self._running:
                raise RuntimeError("Encoder already stopped")
            self._running = False
            self._stop()
            for out in self._output:
                out.stop()

    def encode(self, stream: str, request: Any) -> None:
        with self._lock:
            if not self._running:
                return
            self._encode(stream, request)
        self.frames_encoded += 1

    def outputframe(self, frame: bytes | None, keyframe: bool = True,
                    timestamp: int | None = None, packet: Any = None,
                    audio: bool = False) -> None:
        with self._output_lock:
            for out in self._output:
                out.outputframe(frame, keyframe, timestamp, packet, audio)

    def _timestamp(self, request: Any) -> int:
        """Microseconds since the first encoded frame, from ``SensorTimestamp`` (ns)."""
        ts = int(request.get_metadata()["SensorTimestamp"] / 1000)
        if self.firsttimestamp is None:
            self.firsttimestamp = ts
            return 0
        return ts - self.firsttimestamp

    # Hooks for subclasses.
    def _setup(self, quality: Quality | None) -> None:
        pass

    def _start(self) -> None:
        pass

    def _stop(self) -> None:
        pass

    def _encode(self, stream: str, request: Any) -> None:
        raise NotImplementedError("the double has only the H.264 encoder")
