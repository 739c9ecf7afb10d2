"""A sink that keeps everything a microphone tells it, for tests and diagnostics."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from drivers.audio.base import AudioBlock


@dataclass(frozen=True)
class Gap:
    start_ns: int
    end_ns: int
    reason: str


class CollectingSink:
    """Records blocks, gaps, losses and restorations; lets a test wait for them.

    ``events`` keeps the order of every call as ``(kind, payload)`` with kind one of
    ``"block"``, ``"gap"``, ``"lost"``, ``"restored"``. ``on_block``, if given, is called
    after a block is recorded (from the microphone's thread).
    """

    def __init__(self, on_block: Callable[[AudioBlock], None] | None = None) -> None:
        self._cond = threading.Condition()
        self.blocks: list[AudioBlock] = []
        self.gaps: list[Gap] = []
        self.lost: list[tuple[int, str]] = []
        self.restored: list[int] = []
        self.events: list[tuple[str, object]] = []
        self._on_block = on_block

    # -- AudioSink -----------------------------------------------------------------------------
    def audioblock(self, block: AudioBlock) -> None:
        with self._cond:
            self.blocks.append(block)
            self.events.append(("block", block))
            self._cond.notify_all()
        if self._on_block is not None:
            self._on_block(block)

    def audio_gap(self, start_ns: int, end_ns: int, reason: str) -> None:
        with self._cond:
            gap = Gap(start_ns, end_ns, reason)
            self.gaps.append(gap)
            self.events.append(("gap", gap))
            self._cond.notify_all()

    def microphone_lost(self, timestamp_ns: int, reason: str) -> None:
        with self._cond:
            self.lost.append((timestamp_ns, reason))
            self.events.append(("lost", (timestamp_ns, reason)))
            self._cond.notify_all()

    def microphone_restored(self, timestamp_ns: int) -> None:
        with self._cond:
            self.restored.append(timestamp_ns)
            self.events.append(("restored", timestamp_ns))
            self._cond.notify_all()

    # -- for the test --------------------------------------------------------------------------
    @property
    def frames(self) -> int:
        """Frames delivered so far."""
        with self._cond:
            return sum(block.frames for block in self.blocks)

    def wait_for(self, predicate: Callable[[CollectingSink], bool],
                 timeout: float = 10.0) -> bool:
        """Wait (wall seconds) until ``predicate(self)`` holds; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def wait_frames(self, frames: int, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda sink: sum(b.frames for b in sink.blocks) >= frames,
                             timeout)

    def samples(self, channels: int = 1) -> np.ndarray:
        """Every delivered sample, in order, as int16 of shape (frames, channels)."""
        with self._cond:
            pcm = b"".join(block.pcm for block in self.blocks)
        return np.frombuffer(pcm, dtype="<i2").reshape(-1, channels)


def accounting_problems(events: list[tuple[str, object]], rate: int) -> list[str]:
    """Check a capture's events (as :attr:`CollectingSink.events`) against the contract.

    Sample 0 sits at the time of the first event; every block must start at the next expected
    index on the grid ``anchor + i * 1e9 // rate``; every hole must be covered by gaps that
    start where the audio stopped and end on the grid where it resumes; ``microphone_lost``
    carries the time audio stops and ``microphone_restored`` the next block's time. Returns
    the problems found (empty when all is well).
    """
    problems: list[str] = []
    anchor: int | None = None
    expected = 0
    restored_at: int | None = None

    def ns_of(index: int) -> int:
        assert anchor is not None
        return anchor + index * 1_000_000_000 // rate

    for number, (kind, payload) in enumerate(events):
        if anchor is None:
            anchor = (payload.first_sample_ns if isinstance(payload, AudioBlock)
                      else payload.start_ns if isinstance(payload, Gap)
                      else payload[0] if isinstance(payload, tuple) else payload)
        where = f"event {number} ({kind})"
        if isinstance(payload, AudioBlock):
            if payload.sample_index != expected:
                problems.append(f"{where}: sample_index {payload.sample_index}, "
                                f"expected {expected}")
            if payload.first_sample_ns != ns_of(payload.sample_index):
                problems.append(f"{where}: first_sample_ns off the grid by "
                                f"{payload.first_sample_ns - ns_of(payload.sample_index)} ns")
            if restored_at is not None and restored_at != payload.first_sample_ns:
                problems.append(f"{where}: restored at {restored_at}, block at "
                                f"{payload.first_sample_ns}")
            restored_at = None
            expected = payload.sample_index + payload.frames
        elif isinstance(payload, Gap):
            if payload.start_ns != ns_of(expected):
                problems.append(f"{where}: gap starts at {payload.start_ns}, audio stopped at "
                                f"{ns_of(expected)}")
            end = -((-(payload.end_ns - anchor) * rate) // 1_000_000_000)
            if ns_of(end) != payload.end_ns or end <= expected:
                problems.append(f"{where}: gap end {payload.end_ns} is not a later sample time")
            expected = max(expected, end)
        elif kind == "lost":
            if payload[0] != ns_of(expected):
                problems.append(f"{where}: lost at {payload[0]}, audio stopped at "
                                f"{ns_of(expected)}")
        elif kind == "restored":
            restored_at = payload
    return problems
