"""Wall-clock time of a session's monotonic instants, reconstructed from its records.

Every record carries a (``mono_ns``, ``wall_ns``) pair read together, and the wall clock's NTP
state (``sync``). docs/evidence-format.md section 3: the wall time of a CLOCK_MONOTONIC instant
``t`` is ``wall_ns + (t - mono_ns)`` of the nearest record of the same boot.

The export puts everything on one time base: CLOCK_MONOTONIC ns of the boot the session started
in (the *main* boot). An instant of another boot (a session that a power cut split) is moved
onto it through wall time.
"""
from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from firmware.evidence.records import Record

#: Reviewers read China Standard Time; the offset is always printed with it.
DISPLAY_TZ = dt.timezone(dt.timedelta(hours=8))
DISPLAY_TZ_LABEL = "UTC+08:00"


@dataclass(frozen=True)
class ClockPoint:
    """One record's clock reading: ``mono_ns`` on the main time base, its ``wall_ns`` (UTC ns
    since the epoch), and whether NTP vouched for the wall clock then (``est_error_us``: its
    estimated error in microseconds)."""

    mono_ns: int
    wall_ns: int
    synced: bool
    est_error_us: int | None
    source: str


class ClockMap:
    """Wall time and sync state at any instant of the main time base."""

    def __init__(self, main_boot: str, readings: Iterable[tuple[str, ClockPoint]]) -> None:
        """``readings``: (boot_id, point with ``mono_ns`` of that boot), in any order."""
        self.main_boot = main_boot
        by_boot: dict[str, list[ClockPoint]] = {}
        for boot, point in readings:
            by_boot.setdefault(boot, []).append(point)
        for points in by_boot.values():
            points.sort(key=lambda p: p.mono_ns)
        self._by_boot = by_boot
        main = by_boot.get(main_boot, [])
        self._main_by_wall = sorted(main, key=lambda p: p.wall_ns)
        self._main_walls = [p.wall_ns for p in self._main_by_wall]
        self._boot_keys = {boot: [p.mono_ns for p in points] for boot, points in by_boot.items()}
        merged = list(main)
        for boot, points in by_boot.items():
            if boot != main_boot:
                merged += [ClockPoint(self.to_main(boot, p.mono_ns), p.wall_ns, p.synced,
                                      p.est_error_us, p.source) for p in points]
        merged.sort(key=lambda p: p.mono_ns)
        self._points = merged
        self._keys = [p.mono_ns for p in merged]

    @classmethod
    def from_records(cls, records: Iterable[Record], main_boot: str) -> "ClockMap":
        readings = []
        for rec in records:
            body = rec.body
            sync = body.get("sync") or {}
            readings.append((body["boot_id"], ClockPoint(
                body["mono_ns"], body["wall_ns"], bool(sync.get("synced")),
                sync.get("est_error_us"), str(sync.get("source", "")))))
        return cls(main_boot, readings)

    @property
    def empty(self) -> bool:
        return not self._points

    @staticmethod
    def _nearest(points: list[ClockPoint], keys: list[int], t: int) -> ClockPoint:
        i = bisect.bisect_left(keys, t)
        if i == 0:
            return points[0]
        if i == len(points):
            return points[-1]
        before, after = points[i - 1], points[i]
        return before if t - before.mono_ns <= after.mono_ns - t else after

    def to_main(self, boot_id: str, t_ns: int) -> int:
        """``t_ns`` (CLOCK_MONOTONIC of ``boot_id``) on the main boot's time base, in ns."""
        if boot_id == self.main_boot or boot_id not in self._by_boot or not self._main_by_wall:
            return t_ns
        ref = self._nearest(self._by_boot[boot_id], self._boot_keys[boot_id], t_ns)
        wall = ref.wall_ns + (t_ns - ref.mono_ns)
        i = min(bisect.bisect_left(self._main_walls, wall), len(self._main_walls) - 1)
        main = self._main_by_wall[i]
        return main.mono_ns + (wall - main.wall_ns)

    def point_at(self, t_ns: int) -> ClockPoint | None:
        """The reading nearest to ``t_ns`` (main time base), or None if there is none."""
        if not self._points:
            return None
        return self._nearest(self._points, self._keys, t_ns)

    def wall_ns(self, t_ns: int) -> int | None:
        """UTC ns since the epoch at ``t_ns`` (main time base)."""
        point = self.point_at(t_ns)
        return None if point is None else point.wall_ns + (t_ns - point.mono_ns)

    def synced_at(self, t_ns: int) -> bool:
        point = self.point_at(t_ns)
        return bool(point and point.synced)

    def all_synced(self) -> bool:
        return bool(self._points) and all(p.synced for p in self._points)

    def format(self, t_ns: int, decimals: int = 3, date: bool = True) -> str:
        """The wall time at ``t_ns`` as text in :data:`DISPLAY_TZ` (no zone label)."""
        wall = self.wall_ns(t_ns)
        return "?" if wall is None else format_wall(wall, decimals, date)


def format_wall(wall_ns: int, decimals: int = 3, date: bool = True) -> str:
    """UTC ns since the epoch as ``YYYY-MM-DD HH:MM:SS.fff`` in :data:`DISPLAY_TZ`."""
    seconds, frac_ns = divmod(wall_ns, 1_000_000_000)
    when = dt.datetime.fromtimestamp(seconds, DISPLAY_TZ)
    text = when.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
    if decimals > 0:
        text += "." + f"{frac_ns:09d}"[:decimals]
    return text


def sync_text(point: ClockPoint | None) -> str:
    """How far the wall time can be trusted, in words (ASCII)."""
    if point is None:
        return "clock unknown"
    if point.synced:
        return "NTP synced"
    if point.est_error_us is not None:
        return f"CLOCK NOT SYNCED (+/-{point.est_error_us / 1e6:.3g} s)"
    return "CLOCK NOT SYNCED"
