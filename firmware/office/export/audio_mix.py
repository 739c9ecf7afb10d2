"""The review video's one sound track when remote parties took part: the counter's microphone and
every party's audio mixed on one sample grid, each sample where its own time puts it.

Why one mixed track and not a track per party: the review is listened to in the report's
``<video>`` element, and browsers play only an MP4's first audio track (none offers a switch);
a reviewer must hear the conversation as it went, both sides in their order. The separate
streams stay in the evidence (``audio-*.wav``, ``remote-<party>-audio-*.wav``) for whoever needs
one voice alone.

Each source is a :class:`~firmware.office.export.audio_source.RecordedAudio` (its segments
placed by their records, a hole kept as a hole); a source at another rate than the mix is
resampled linearly, mono is spread over both channels of a stereo mix. The sum is clipped to
-1..1 (no source is attenuated: voices at the counter and a remote voice seldom peak together,
and a quieter mix would hide a soft answer).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from firmware.office.export.audio_source import PlacedAudio, RecordedAudio

WINDOW_S = 1            # the mix is made one second at a time


class _Source:
    """One source's placed chunks on the mix's grid, consumed in order without overlap."""

    def __init__(self, audio: RecordedAudio, t0_ns: int, rate: int, channels: int) -> None:
        self._chunks = audio.placed(t0_ns)
        self._ratio = rate / audio.rate
        self._channels = channels
        self.pending: PlacedAudio | None = None
        self.cursor = -(1 << 62)          # the first grid index not yet used
        self._advance()

    def _convert(self, chunk: PlacedAudio) -> PlacedAudio:
        samples = chunk.samples
        if self._ratio != 1.0:
            n = max(1, round(len(samples) * self._ratio))
            x = np.arange(n) / self._ratio
            samples = np.stack([np.interp(x, np.arange(len(samples)), samples[:, c])
                                for c in range(samples.shape[1])], axis=1).astype(np.float32)
        if samples.shape[1] < self._channels:
            samples = np.repeat(samples[:, :1], self._channels, axis=1)
        elif samples.shape[1] > self._channels:
            samples = samples.mean(axis=1, keepdims=True)
        return PlacedAudio(round(chunk.index * self._ratio), samples)

    def _advance(self) -> None:
        self.pending = None
        for chunk in self._chunks:
            chunk = self._convert(chunk)
            skip = max(0, self.cursor - chunk.index)     # a segment overlapping the last one
            if skip < len(chunk.samples):
                self.pending = PlacedAudio(chunk.index + skip, chunk.samples[skip:])
                return

    def add_into(self, buf: np.ndarray, start: int) -> int:
        """Add what falls in ``[start, start + len(buf))``; the end of what was added (grid
        index), or ``start`` if nothing."""
        end = start + len(buf)
        extent = start
        while self.pending is not None and self.pending.index < end:
            chunk = self.pending
            a = chunk.index - start
            take = min(len(chunk.samples), end - chunk.index)
            buf[a:a + take] += chunk.samples[:take]
            extent = max(extent, chunk.index + take)
            self.cursor = chunk.index + take
            if take < len(chunk.samples):
                self.pending = PlacedAudio(chunk.index + take, chunk.samples[take:])
                break
            self._advance()
        return extent


class MixedAudio:
    """What the MP4 writer reads of an audio source (``rate``, ``channels``, ``segments``,
    :meth:`placed`), made of several sources mixed. ``rate``: the first source's (the
    counter's, which the unit records at the rate Opus takes); ``channels``: the most any
    source has (at most 2)."""

    def __init__(self, sources: list[RecordedAudio]) -> None:
        self.sources = [s for s in sources if s.segments]
        self.rate = self.sources[0].rate if self.sources else 48_000
        self.channels = max((s.channels for s in self.sources), default=1)

    @property
    def segments(self) -> list:
        return [seg for s in self.sources for seg in s.segments]

    @property
    def problems(self) -> list[str]:
        return [p for s in self.sources for p in s.problems]

    def placed(self, t0_ns: int) -> Iterator[PlacedAudio]:
        """The mix, a window at a time, each where its samples' times put it; stretches where
        no source has a sample are left out (the writer makes them silence)."""
        window = WINDOW_S * self.rate
        sources = [_Source(s, t0_ns, self.rate, self.channels) for s in self.sources]
        while True:
            live = [s for s in sources if s.pending is not None]
            if not live:
                return
            start = min(s.pending.index for s in live)
            buf = np.zeros((window, self.channels), np.float32)
            extent = max(s.add_into(buf, start) for s in live)
            np.clip(buf, -1.0, 1.0, out=buf)
            yield PlacedAudio(start, buf[:extent - start])
