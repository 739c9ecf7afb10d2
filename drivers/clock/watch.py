"""Detecting steps of wall time against the monotonic clock."""
from __future__ import annotations

from dataclasses import dataclass

from drivers.clock.base import Clock, ClockSample


@dataclass(frozen=True)
class ClockStep:
    """Wall time moved by ``step_ns`` against monotonic time between two samples."""

    before: ClockSample
    after: ClockSample
    step_ns: int


class ClockWatch:
    """Samples (monotonic, realtime) pairs and reports a step larger than ``threshold_ms``.

    The offset ``realtime - monotonic`` is constant while nothing steps the wall clock; slewing
    by NTP changes it by at most 500 ppm, which the threshold leaves alone.
    """

    def __init__(self, clock: Clock, threshold_ms: float = 100.0) -> None:
        self._clock = clock
        self._threshold_ns = int(threshold_ms * 1e6)
        self._last: ClockSample | None = None

    def check(self) -> tuple[ClockSample, ClockStep | None]:
        """Take a sample; return it and the step since the previous sample, if any."""
        sample = self._clock.sample()
        last, self._last = self._last, sample
        if last is None or last.boot_id != sample.boot_id:
            return sample, None
        offset_before = last.realtime_ns - last.monotonic_ns
        offset_after = sample.realtime_ns - sample.monotonic_ns
        elapsed = max(sample.monotonic_ns - last.monotonic_ns, 1)
        step = offset_after - offset_before
        if abs(step) > self._threshold_ns + elapsed * 500 // 1_000_000:
            return sample, ClockStep(last, sample, step)
        return sample, None
