"""FrameGapDetector: which intervals are gaps and how many frames they hold."""
from __future__ import annotations

import pytest

from drivers.camera import FrameGap, FrameGapDetector
from drivers.errors import BadDriverArgument

PERIOD = 1_000_000_000 // 30


def feed_all(detector: FrameGapDetector, timestamps: list[int]) -> list[FrameGap]:
    return [gap for ts in timestamps if (gap := detector.feed(ts)) is not None]


def test_steady_frames_have_no_gap() -> None:
    detector = FrameGapDetector(30)
    assert feed_all(detector, [1_000 + i * PERIOD for i in range(100)]) == []
    assert detector.missing_total == 0


def test_jitter_below_one_and_a_half_periods_is_not_a_gap() -> None:
    detector = FrameGapDetector(30)
    assert feed_all(detector, [0, int(1.49 * PERIOD), int(2.3 * PERIOD)]) == []


@pytest.mark.parametrize("missing", [1, 2, 3, 29, 300])
def test_a_gap_reports_its_range_and_missing_count(missing: int) -> None:
    detector = FrameGapDetector(30)
    before = 5 * PERIOD + (missing + 1) * PERIOD
    gaps = feed_all(detector, [i * PERIOD for i in range(6)] + [before, before + PERIOD])
    assert gaps == [FrameGap(5 * PERIOD, before, missing)]
    assert detector.missing_total == missing


def test_one_and_a_half_periods_and_more_is_one_missing_frame() -> None:
    detector = FrameGapDetector(30)
    assert feed_all(detector, [0, int(1.6 * PERIOD)]) == [FrameGap(0, int(1.6 * PERIOD), 1)]


def test_reset_starts_a_new_run() -> None:
    detector = FrameGapDetector(25)
    detector.feed(0)
    detector.reset()
    assert detector.feed(10_000_000_000) is None


def test_timestamps_must_increase() -> None:
    detector = FrameGapDetector(30)
    detector.feed(5_000)
    with pytest.raises(BadDriverArgument, match="not after"):
        detector.feed(5_000)


@pytest.mark.parametrize("fps", [0, -1, 2.5])
def test_bad_fps_is_refused(fps: object) -> None:
    with pytest.raises(BadDriverArgument, match="fps"):
        FrameGapDetector(fps)  # type: ignore[arg-type]
