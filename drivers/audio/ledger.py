"""Sample accounting of one capture: where each sample sits in time, and what was lost.

Both microphone backends deliver through a :class:`CaptureLedger`, so a sink sees the same
contract from either: sample ``i`` sits at ``anchor_ns + i * 1_000_000_000 // rate``
(CLOCK_MONOTONIC ns, integer arithmetic, no drift correction); a lost range advances
``sample_index`` by exactly the frames lost and is reported as one ``audio_gap`` whose ends are
the times of the first lost sample and the first sample after the loss.
"""
from __future__ import annotations

from drivers.audio.base import AudioBlock, AudioSink

NS_PER_S = 1_000_000_000


class CaptureLedger:
    """Owns ``next_index`` and the time grid of one capture; calls the sink.

    Used from the microphone's delivery thread only (no locking).
    """

    def __init__(self, sink: AudioSink, *, rate: int, channels: int) -> None:
        self.sink = sink
        self.rate = rate
        self.channels = channels
        self.anchor_ns: int | None = None
        self.next_index = 0
        self.frames_delivered = 0
        self.frames_lost = 0
        self._lost_at: int | None = None
        self._lost_reason = ""

    # -- the grid ------------------------------------------------------------------------------
    def set_anchor(self, anchor_ns: int) -> None:
        """Fix the time of sample 0 (once; later calls are ignored)."""
        if self.anchor_ns is None:
            self.anchor_ns = anchor_ns

    def ns_of(self, index: int) -> int:
        """CLOCK_MONOTONIC ns of sample ``index``."""
        assert self.anchor_ns is not None, "anchor not set"
        return self.anchor_ns + index * NS_PER_S // self.rate

    def index_at(self, ns: int) -> int:
        """The first sample index at or after ``ns`` (never before ``next_index``)."""
        assert self.anchor_ns is not None, "anchor not set"
        index = -((-(ns - self.anchor_ns) * self.rate) // NS_PER_S)
        return max(index, self.next_index)

    def index_nearest(self, ns: int) -> int:
        """The sample index nearest ``ns`` (never before ``next_index``), for estimated times."""
        assert self.anchor_ns is not None, "anchor not set"
        index = ((ns - self.anchor_ns) * self.rate + NS_PER_S // 2) // NS_PER_S
        return max(index, self.next_index)

    @property
    def lost(self) -> bool:
        return self._lost_at is not None

    # -- what happened -------------------------------------------------------------------------
    def deliver(self, pcm: bytes) -> AudioBlock:
        """Hand the sink the next block; ``pcm`` holds whole frames."""
        frames = len(pcm) // (2 * self.channels)
        block = AudioBlock(pcm, frames, self.ns_of(self.next_index), self.next_index)
        self.next_index += frames
        self.frames_delivered += frames
        self.sink.audioblock(block)
        return block

    def skip(self, frames: int, reason: str) -> None:
        """``frames`` samples at ``next_index`` were lost: one audio_gap, then the hole."""
        if frames <= 0:
            return
        start = self.ns_of(self.next_index)
        self.next_index += frames
        self.frames_lost += frames
        self.sink.audio_gap(start, self.ns_of(self.next_index), reason)

    def mark_lost(self, reason: str) -> None:
        """The device is gone from ``next_index`` on; tells the sink once."""
        if self._lost_at is not None:
            return
        self._lost_at = self.next_index
        self._lost_reason = reason
        self.sink.microphone_lost(self.ns_of(self.next_index), reason)

    def mark_restored(self, index: int) -> None:
        """The device is back and its next block starts at sample ``index``.

        Reports ``microphone_restored`` at that sample's time, then the ``audio_gap`` covering
        the loss, and moves ``next_index`` there.
        """
        if self._lost_at is None:
            return
        index = max(index, self.next_index)
        self.sink.microphone_restored(self.ns_of(index))
        self._close_loss(index, f"microphone lost: {self._lost_reason}")

    def finish(self, stop_ns: int) -> None:
        """At stop: a loss still open becomes a gap up to ``stop_ns``."""
        if self._lost_at is not None and self.anchor_ns is not None:
            self._close_loss(self.index_at(stop_ns),
                             f"microphone lost: {self._lost_reason} (not restored before stop)")

    def _close_loss(self, index: int, reason: str) -> None:
        lost_at = self._lost_at
        assert lost_at is not None
        self._lost_at = None
        self.next_index = lost_at
        self.skip(index - lost_at, reason)
