"""The review video of a session with remote parties: the counter and each party side by side on
one timeline, every picture shown from its own time on the unit's clock.

The sources are the counter's video (capture times) and each party's re-encoded video (arrival
times on the unit's CLOCK_MONOTONIC), all on the session's main time base. The file gets a
picture at every instant any source has a frame; each panel then shows its source's latest
frame. A panel whose source has nothing at that instant shows a labelled placeholder saying
why: the counter as the counter-only export does (its camera not started or stopped, a GAP);
a party not joined yet, in a network drop or other GAP of its video (the GAP record named),
or gone (its ``remote_left``). A party's frame is held until its next one, for at most
:data:`REMOTE_HOLD_NS` (arrivals jitter), never into a GAP of its video nor past its leaving;
the counter's for 1.5 frame intervals. When no source has a frame for longer than 1.5 of the
counter's frame intervals, a picture is made once a second, as in the counter-only file. The
sound is the mix of everyone (:mod:`firmware.office.export.audio_mix`).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from firmware.office.export.captions import Captioner
from firmware.office.export.fonts import FontChoice
from firmware.office.export.mp4 import (NO_VIDEO_REPEAT_NS, Mp4Summary, Picture, StillAt,
                                        fit_picture, encode_mp4)
from firmware.office.export.overlay import Overlay
from firmware.office.export.panels import Panel, PanelLayout, PanelPainter
from firmware.office.export.remote_data import PartyRecording
from firmware.office.export.session_data import GapSpan
from firmware.office.export.video_source import RecordedVideo, VideoFrame

NS_PER_S = 1_000_000_000
#: The longest a party's last frame stands for them while nothing newer arrived and no GAP
#: says the stream broke (the unit calls a stream stalled after RemoteOptions.stall_seconds).
REMOTE_HOLD_NS = NS_PER_S // 2

#: Why a panel shows no picture at an instant (asked only when its latest frame no longer stands).
Absence = Callable[[int], str]


@dataclass
class PanelSource:
    """One panel's frames and how long one stands (``hold_ns``), and why it has none."""

    panel: Panel
    video: RecordedVideo
    hold_ns: int
    absence: Absence
    gaps: list[GapSpan]
    still_at: StillAt | None = None
    stops: tuple[int, ...] = ()     # the party left then: no frame before stands after it

    def stands(self, frame_ns: int, t_ns: int) -> bool:
        """Whether the frame of ``frame_ns`` still stands for the source at ``t_ns``."""
        return (t_ns - frame_ns <= self.hold_ns
                and not any(g.start_ns < t_ns < g.end_ns for g in self.gaps)
                and not any(frame_ns < s <= t_ns for s in self.stops))


def party_absence(party: PartyRecording, first_ns: int | None,
                  last_ns: int | None) -> Absence:
    """Why ``party`` shows no picture at ``t``: a GAP of its video, not joined yet, gone;
    ``first_ns`` / ``last_ns``: its first and last frame that could be read (None: none)."""
    video_gaps = [g for g in party.gaps if g.stream in (None, "remote_video")]

    def why(t: int) -> str:
        if first_ns is None and party.video:
            return "VIDEO UNREADABLE (encrypted without --key, or damaged: see the report)"
        for gap in video_gaps:
            if gap.start_ns <= t <= gap.end_ns:
                return f"NOT CONNECTED: {gap.kind} (GAP record {gap.seq})"
        joined = [e for e in party.joins() if e.at_ns <= t]
        if first_ns is None or t < first_ns:
            return "JOINED, NO PICTURE YET" if joined else "NOT JOINED YET"
        if last_ns is not None and t > last_ns:
            left = [e for e in party.leaves() if e.at_ns <= t]
            if left:
                return f"LEFT ({left[-1].reason or 'remote_left'})"
            return "NO PICTURE: the call's video ended"
        return "NO PICTURE: nothing received here"
    return why


def _tagged(index: int, frames: Iterator[VideoFrame]) -> Iterator[tuple[int, int, VideoFrame]]:
    for frame in frames:
        yield frame.t_ns, index, frame


def slot_times(events: Iterator[tuple[int, int, VideoFrame]], t0_ns: int, end_ns: int,
                slack_ns: int, period_ns: int):
    """(time, frames at that time) for every distinct frame time, and (time, []) fillers
    where no source has a frame for longer than ``slack_ns``: at the start of such a stretch
    and once a second through it."""
    expected = t0_ns
    pending: list[tuple[int, VideoFrame]] = []
    pending_t: int | None = None
    for t, index, frame in events:
        if pending_t is not None and t != pending_t:
            yield pending_t, pending
            expected = pending_t + period_ns
            pending = []
        if pending_t is None or t != pending_t:
            filler = expected
            while t - filler > slack_ns:
                yield filler, []
                filler += NO_VIDEO_REPEAT_NS
        pending_t = t
        pending.append((index, frame))
    if pending_t is not None:
        yield pending_t, pending
        expected = pending_t + period_ns
    filler = expected
    while end_ns - filler > slack_ns:
        yield filler, []
        filler += NO_VIDEO_REPEAT_NS


def write_side_by_side(path: Path, sources: list[PanelSource], layout: PanelLayout, audio,
                       captioner: Captioner, font: FontChoice, *, fps: int, t0_ns: int,
                       end_ns: int, title: str = "") -> Mp4Summary:
    """Write the side-by-side MP4 of ``sources`` (left to right, as ``layout`` places them)
    with ``audio`` (the mix) to ``path``; ``fps`` is the counter's nominal rate."""
    painter = PanelPainter(layout, font)
    overlay = Overlay(layout.width, layout.height, font)
    period = NS_PER_S // max(1, fps)
    slack = period * 3 // 2
    merged = heapq.merge(*(_tagged(i, s.video.frames()) for i, s in enumerate(sources)),
                         key=lambda e: (e[0], e[1]))
    latest: list[tuple[int, np.ndarray] | None] = [None] * len(sources)

    def pictures() -> Iterator[Picture]:
        for t, frames in slot_times(merged, t0_ns, end_ns, slack, period):
            for index, frame in frames:
                panel = sources[index].panel
                latest[index] = (frame.t_ns, fit_picture(frame.rgb, panel.width, layout.height))
            canvas = np.empty((layout.height, layout.width, 3), np.uint8)
            for index, source in enumerate(sources):
                panel = source.panel
                shown = latest[index]
                if shown is not None and source.stands(shown[0], t):
                    canvas[:, panel.x:panel.x + panel.width] = shown[1]
                else:
                    still = source.still_at(t) if source.still_at else None
                    if still is not None:
                        still = fit_picture(still, panel.width, layout.height)
                    canvas[:, panel.x:panel.x + panel.width] = painter.placeholder(
                        panel, source.absence(t), still)
                painter.label(canvas, panel)
            yield Picture(t, overlay.draw(canvas, captioner.lines(t)), bool(frames))

    return encode_mp4(path, pictures(), audio, width=layout.width, height=layout.height,
                      fps=fps, t0_ns=t0_ns, end_ns=end_ns, title=title)
