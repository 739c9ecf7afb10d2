"""Fixtures for the camera driver tests: a recording sink, H.264 checks, the picamera2 double."""
from __future__ import annotations

import io
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import av
import pytest

from drivers.camera import EncodedFrame
from drivers.clock import SimClock

DOUBLES = Path(__file__).resolve().parents[2] / "doubles"


class RecordingSink:
    """A FrameSink that keeps every call, in order, and lets a test wait for what it expects."""

    def __init__(self, fail_on_frame: int | None = None) -> None:
        self.events: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()
        self._fail_on_frame = fail_on_frame

    def _add(self, event: tuple[Any, ...]) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def outputframe(self, frame: EncodedFrame) -> None:
        if self._fail_on_frame is not None and len(self.frames) == self._fail_on_frame:
            raise OSError("disk full (test sink)")
        self._add(("frame", frame))

    def frames_dropped(self, after_ns: int, before_ns: int, count: int) -> None:
        self._add(("dropped", after_ns, before_ns, count))

    def camera_lost(self, timestamp_ns: int, reason: str) -> None:
        self._add(("lost", timestamp_ns, reason))

    def camera_restored(self, timestamp_ns: int) -> None:
        self._add(("restored", timestamp_ns))

    def of_kind(self, kind: str) -> list[tuple[Any, ...]]:
        with self._cond:
            return [e for e in self.events if e[0] == kind]

    @property
    def frames(self) -> list[EncodedFrame]:
        return [e[1] for e in self.of_kind("frame")]

    def wait_for(self, predicate: Callable[[RecordingSink], bool], timeout: float = 10.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self), timeout), \
                f"timed out; events so far: {[e[0] for e in self.events][-20:]}"

    def wait_frames(self, n: int, timeout: float = 10.0) -> None:
        self.wait_for(lambda s: len(s.of_kind("frame")) >= n, timeout)


class H264Checks:
    """Reads back what a camera delivered, with PyAV."""

    @staticmethod
    def decode_count(frames: list[EncodedFrame]) -> int:
        data = b"".join(f.data for f in frames)
        with av.open(io.BytesIO(data), format="h264") as container:
            return sum(1 for _ in container.decode(video=0))

    @staticmethod
    def nal_types(data: bytes) -> list[int]:
        """The NAL unit types of one Annex-B access unit, in order."""
        types, pos = [], data.find(b"\x00\x00\x01")
        while pos != -1 and pos + 3 < len(data):
            types.append(data[pos + 3] & 0x1F)
            pos = data.find(b"\x00\x00\x01", pos + 3)
        return types


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def failing_sink() -> Callable[[int], RecordingSink]:
    return lambda n: RecordingSink(fail_on_frame=n)


@pytest.fixture
def h264() -> H264Checks:
    return H264Checks()


@pytest.fixture
def sim_clock() -> SimClock:
    """A clock that moves only when slept on: the simulated camera runs flat out."""
    return SimClock(realtime=False)


def _forget_picamera2() -> None:
    for name in [n for n in sys.modules if n == "picamera2" or n.startswith("picamera2.")]:
        del sys.modules[name]


@pytest.fixture
def picamera2_double(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """``import picamera2`` gives the test double (tests/doubles/picamera2) for this test."""
    _forget_picamera2()
    monkeypatch.syspath_prepend(str(DOUBLES))
    import picamera2

    assert Path(picamera2.__file__).resolve().is_relative_to(DOUBLES)
    yield picamera2
    _forget_picamera2()
