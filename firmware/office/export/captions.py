"""What the review video says at each instant: the wall-clock time (and whether NTP vouched for
it) and the script node being recorded."""
from __future__ import annotations

import bisect

from firmware.office.export.fonts import FontChoice
from firmware.office.export.overlay import RED, WHITE, YELLOW, CaptionLine
from firmware.office.export.session_data import GapSpan, NodeSpan
from firmware.office.export.wallclock import ClockMap

ZONE = "UTC+8"


class Captioner:
    """Caption lines for an instant ``t_ns`` (main time base)."""

    def __init__(self, clock: ClockMap, nodes: list[NodeSpan], font: FontChoice, *,
                 gaps: list[GapSpan] = (), video_span: tuple[int, int] | None = None) -> None:
        """``gaps``: the session's GAP records; ``video_span``: first and last frame times."""
        self._clock = clock
        self._gaps = [g for g in gaps if g.stream in (None, "video")]
        self._video_span = video_span
        self._nodes = sorted(nodes, key=lambda n: n.start_ns)
        self._starts = [n.start_ns for n in self._nodes]
        self._font = font

    def node_at(self, t_ns: int) -> tuple[int, NodeSpan] | None:
        """(1-based position, node) of the node running at ``t_ns``, or None between nodes."""
        i = bisect.bisect_right(self._starts, t_ns) - 1
        if i < 0:
            return None
        node = self._nodes[i]
        if node.end_ns is not None and t_ns >= node.end_ns:
            return None
        return i + 1, node

    def node_label(self, position: int, node: NodeSpan) -> str:
        """``[2/7] 销售人员自我介绍`` — or the node id when the font has no Chinese."""
        name = self._font.text(node.title, node.id) if node.title else node.id
        return f"[{position}/{len(self._nodes)}] {name}"

    def lines(self, t_ns: int, no_video: str | None = None) -> list[CaptionLine]:
        """The caption at ``t_ns``; ``no_video`` explains a stretch without pictures."""
        point = self._clock.point_at(t_ns)
        clock_text = f"{self._clock.format(t_ns, decimals=1)} {ZONE}"
        if point is None:
            clock_line = CaptionLine(f"{clock_text} clock unknown", YELLOW)
        elif point.synced:
            clock_line = CaptionLine(f"{clock_text} NTP ok", WHITE)
        else:
            clock_line = CaptionLine(f"{clock_text} NOT SYNCED", YELLOW)
        current = self.node_at(t_ns)
        node_text = self.node_label(*current) if current else "-"
        out = [clock_line, CaptionLine(node_text, WHITE)]
        if no_video:
            out.append(CaptionLine(no_video, RED))
        return out

    def no_video_reason(self, t_ns: int) -> str:
        """Why there is no picture at ``t_ns``, for the black frames that stand in for it."""
        if self._video_span is None:
            return "NO VIDEO: audio-only recording"
        for gap in self._gaps:
            if gap.start_ns <= t_ns <= gap.end_ns:
                return f"NO VIDEO: {gap.kind} (GAP record {gap.seq})"
        first, last = self._video_span
        if t_ns < first:
            return "NO VIDEO: camera not started yet"
        if t_ns > last:
            return "NO VIDEO: camera stopped"
        return "NO VIDEO: no frame recorded here"
