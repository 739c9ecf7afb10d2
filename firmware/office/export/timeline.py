"""The timeline picture of a session: nodes as bands, prompts, where video and audio exist (the
counter's, and each remote party's in rows of its own with its joins and leaves), the audio
level, faces in frame, presses, refusals, gaps and quality findings, on one time axis labelled
in wall-clock time and in seconds from the start of the review video.

Drawn with Pillow (for Chinese node titles). :func:`draw_timeline` returns the layout it used,
so a reader (or a test) can find what is drawn where.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from firmware.office.export.fonts import FontChoice
from firmware.office.export.session_data import GapSpan, Mark, NodeSpan, QualityFinding
from firmware.office.export.wallclock import ClockMap

NS_PER_S = 1_000_000_000
WIDTH = 1600
LABEL_W = 120
MARGIN = 16

BACKGROUND = (255, 255, 255)
GRID = (225, 225, 225)
TEXT = (30, 30, 30)
NODE_FILLS = ((198, 219, 239), (199, 233, 192))
COVERAGE = (116, 196, 118)
LEVEL = (33, 113, 181)
FACES = (106, 81, 163)
NO_FACE = (203, 24, 29)
PRESS = (49, 130, 189)
REFUSAL = (203, 24, 29)
PROMPT = (158, 202, 225)
REPLAY = (188, 128, 189)
GAP = (239, 59, 44)
FINDING = (253, 141, 60)

#: (row name, height in px), top to bottom.
ROWS = (("nodes", 44), ("prompts", 14), ("video", 16), ("audio", 16), ("level", 60),
        ("faces", 40), ("presses", 26), ("refusals", 26), ("gaps", 18), ("findings", 30))
ROW_TITLES = {"nodes": "Nodes", "prompts": "Prompts", "video": "Video", "audio": "Audio",
              "level": "Audio dBFS", "faces": "Faces", "presses": "Presses",
              "refusals": "Refusals", "gaps": "Gaps", "findings": "Findings"}
LEVEL_FLOOR_DB = -60.0


@dataclass(frozen=True)
class PartyRows:
    """A remote party's two rows: where its video and audio exist, when it joined and left
    (main time base, ns)."""

    party: str
    label: str
    video_spans: list[tuple[int, int]]
    audio_spans: list[tuple[int, int]]
    joins: list[int] = field(default_factory=list)
    leaves: list[int] = field(default_factory=list)


JOIN = (35, 139, 69)
LEAVE = (99, 99, 99)


@dataclass
class TimelineModel:
    """What to draw. Times are ns on the main time base; ``video_t0_ns`` is time zero of the
    review video, for the second axis."""

    start_ns: int
    end_ns: int
    video_t0_ns: int
    clock: ClockMap
    nodes: list[NodeSpan] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    gaps: list[GapSpan] = field(default_factory=list)
    findings: list[QualityFinding] = field(default_factory=list)
    video_spans: list[tuple[int, int]] = field(default_factory=list)
    audio_spans: list[tuple[int, int]] = field(default_factory=list)
    levels: list[tuple[int, float]] = field(default_factory=list)
    faces: list[tuple[int, int | None, float | None]] = field(default_factory=list)
    parties: list[PartyRows] = field(default_factory=list)


@dataclass(frozen=True)
class TimelineLayout:
    """Where things are in the picture: ``rows[name] = (top, bottom)`` in px."""

    width: int
    height: int
    start_ns: int
    end_ns: int
    rows: dict[str, tuple[int, int]]

    def x_of(self, t_ns: int) -> float:
        span = max(1, self.end_ns - self.start_ns)
        return LABEL_W + (WIDTH - LABEL_W - MARGIN) * (t_ns - self.start_ns) / span


def _tick_step_s(span_s: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span_s / step <= 12:
            return step
    return 7200


def draw_timeline(path: Path, model: TimelineModel, font: FontChoice) -> TimelineLayout:
    """Draw ``model`` as a PNG at ``path``; returns its layout. A remote party has the rows
    ``<party> video`` and ``<party> audio`` below the counter's audio."""
    titles = dict(ROW_TITLES)
    names: list[tuple[str, int]] = []
    for name, h in ROWS:
        names.append((name, h))
        if name == "audio":
            for p in model.parties:
                for stream in ("video", "audio"):
                    names.append((f"{p.party} {stream}", 16))
                    titles[f"{p.party} {stream}"] = f"{p.party} {stream}"
    rows, y = {}, 36
    for name, h in names:
        rows[name] = (y, y + h)
        y += h + 6
    axis_y = y + 4
    height = axis_y + 44
    layout = TimelineLayout(WIDTH, height, model.start_ns, model.end_ns, rows)
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    small, normal = font.load(12), font.load(14)
    x = layout.x_of

    def span(row: str, a: int, b: int, fill, inset: int = 0) -> tuple[float, float]:
        top, bottom = rows[row]
        x0, x1 = x(a), max(x(a) + 1, x(b))
        draw.rectangle((x0, top + inset, x1, bottom - inset), fill=fill)
        return x0, x1

    # grid, axis and row titles
    span_s = (model.end_ns - model.start_ns) / NS_PER_S
    step = _tick_step_s(span_s)
    first_tick = math.ceil((model.start_ns - model.video_t0_ns) / NS_PER_S / step) * step
    tick = first_tick
    while model.video_t0_ns + tick * NS_PER_S <= model.end_ns:
        t = model.video_t0_ns + round(tick * NS_PER_S)
        draw.line((x(t), rows["nodes"][0], x(t), axis_y), fill=GRID)
        draw.text((x(t) - 24, axis_y + 4), model.clock.format(t, 1, date=False), fill=TEXT,
                  font=small)
        draw.text((x(t) - 24, axis_y + 20), f"+{tick:g} s", fill=(110, 110, 110), font=small)
        tick += step
    for name, (top, bottom) in rows.items():
        draw.text((6, (top + bottom) // 2 - 7), titles[name], fill=TEXT, font=small)
    draw.text((LABEL_W, 8), f"{model.clock.format(model.start_ns, 3)} - "
              f"{model.clock.format(model.end_ns, 3, date=False)} (UTC+08:00)", fill=TEXT,
              font=normal)

    for i, node in enumerate(model.nodes):
        end = node.end_ns if node.end_ns is not None else model.end_ns
        x0, x1 = span("nodes", node.start_ns, end, NODE_FILLS[i % 2], 2)
        draw.rectangle((x0, rows["nodes"][0] + 2, x1, rows["nodes"][1] - 2), outline=(90, 90, 90))
        label = f"{i + 1} " + (font.text(node.title, node.id) if node.title else node.id)
        _clipped_text(draw, (x0 + 3, rows["nodes"][0] + 6), label, x1 - x0 - 6, normal)
    for mark in model.marks:
        if mark.kind == "prompt":
            span("prompts", mark.at_ns, mark.end_ns or mark.at_ns,
                 REPLAY if mark.label == "replay" else PROMPT, 2)
    for a, b in model.video_spans:
        span("video", a, b, COVERAGE, 2)
    for a, b in model.audio_spans:
        span("audio", a, b, COVERAGE, 2)
    for p in model.parties:
        for a, b in p.video_spans:
            span(f"{p.party} video", a, b, COVERAGE, 2)
        for a, b in p.audio_spans:
            span(f"{p.party} audio", a, b, COVERAGE, 2)
        top, bottom = rows[f"{p.party} video"][0], rows[f"{p.party} audio"][1]
        for t, colour in [(t, JOIN) for t in p.joins] + [(t, LEAVE) for t in p.leaves]:
            draw.line((x(t), top, x(t), bottom), fill=colour, width=2)
    _draw_levels(draw, layout, model.levels)
    _draw_faces(draw, layout, model.faces, small)
    _draw_marks(draw, layout, model.marks, small)
    if model.gaps:  # a translucent red band through every row, solid in the gap's stream
        shade = Image.new("RGBA", image.size, (0, 0, 0, 0))
        shade_draw = ImageDraw.Draw(shade)
        for gap in model.gaps:
            if gap.party is not None:     # a remote party's drop: solid in its rows only
                continue
            x0, x1 = x(gap.start_ns), max(x(gap.start_ns) + 2, x(gap.end_ns))
            shade_draw.rectangle((x0, rows["nodes"][0], x1, rows["findings"][1]),
                                 fill=GAP + (48,))
        image = Image.alpha_composite(image.convert("RGBA"), shade).convert("RGB")
        draw = ImageDraw.Draw(image)
        for gap in model.gaps:
            x0, x1 = span("gaps", gap.start_ns, gap.end_ns, GAP, 1)
            x1 = max(x1, x0 + 2)
            for stream_row in _gap_rows(gap, rows):
                top, bottom = rows[stream_row]
                draw.rectangle((x0, top + 2, x1, bottom - 2), fill=GAP)
            draw.text((x1 + 3, rows["gaps"][0] + 2), gap.kind, fill=GAP, font=small)
    for n, finding in enumerate(model.findings):
        a = finding.start_ns if finding.start_ns is not None else model.start_ns
        b = finding.end_ns if finding.end_ns is not None else a
        top, bottom = rows["findings"]
        x0, x1 = x(a), max(x(a) + 3, x(b))
        draw.rectangle((x0, top + 2, x1, top + 12), fill=FINDING)
        _clipped_text(draw, (x0, top + 14 if n % 2 == 0 else top + 2), finding.check,
                      WIDTH - x0, small)
    image.save(path, "PNG")
    return layout


def _gap_rows(gap: GapSpan, rows: dict[str, tuple[int, int]]) -> list[str]:
    """The rows a GAP is solid in: the counter's stream, or the remote party's."""
    if gap.party is not None:
        streams = ("video", "audio") if gap.stream is None else \
            (gap.stream.removeprefix("remote_"),)
        return [r for r in (f"{gap.party} {s}" for s in streams) if r in rows]
    return [r for r in ("video", "audio") if gap.stream in (None, r)]


def _clipped_text(draw: ImageDraw.ImageDraw, at: tuple[float, float], text: str,
                  room: float, font) -> None:
    """``text`` cut (with an ellipsis) to fit ``room`` pixels; nothing if there is no room."""
    if room < 12:
        return
    while text and draw.textlength(text, font=font) > room:
        text = text[:-2] + "…" if len(text) > 2 else ""
    if text:
        draw.text(at, text, fill=TEXT, font=font)


def _draw_levels(draw: ImageDraw.ImageDraw, layout: TimelineLayout,
                 levels: list[tuple[int, float]]) -> None:
    top, bottom = layout.rows["level"]
    for db in (-40, -20):
        yy = bottom - (bottom - top) * (db - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB
        draw.line((LABEL_W, yy, WIDTH - MARGIN, yy), fill=GRID)
    points = []
    for t, db in levels:
        level = min(1.0, max(0.0, (db - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB))
        points.append((layout.x_of(t), bottom - (bottom - top) * level))
    for a, b in zip(points, points[1:]):
        if b[0] - a[0] < 40:  # do not draw across a hole in the audio
            draw.line((a, b), fill=LEVEL, width=1)


def _draw_faces(draw: ImageDraw.ImageDraw, layout: TimelineLayout,
                faces: list[tuple[int, int | None, float | None]], font) -> None:
    top, bottom = layout.rows["faces"]
    for n, (t, count, _brightness) in enumerate(faces):
        x0 = layout.x_of(t)
        x1 = layout.x_of(faces[n + 1][0]) if n + 1 < len(faces) else x0 + 4
        if count is None:
            continue
        if count == 0:
            draw.rectangle((x0, bottom - 6, max(x0 + 1, x1 - 1), bottom), fill=NO_FACE)
        else:
            h = min(bottom - top, 12 * count)
            draw.rectangle((x0, bottom - h, max(x0 + 1, x1 - 1), bottom), fill=FACES)


def _label(draw: ImageDraw.ImageDraw, xx: float, y: float, text: str, colour, font) -> None:
    """``text`` just right of ``xx``, or left of it when it would run off the picture."""
    length = draw.textlength(text, font=font)
    left = xx + 6 if xx + 6 + length <= WIDTH - 2 else xx - 6 - length
    draw.text((left, y), text, fill=colour, font=font)


def _draw_marks(draw: ImageDraw.ImageDraw, layout: TimelineLayout, marks: list[Mark],
                font) -> None:
    for n, mark in enumerate(marks):
        xx = layout.x_of(mark.at_ns)
        if mark.kind == "press":
            top, bottom = layout.rows["presses"]
            draw.line((xx, top, xx, bottom), fill=PRESS, width=2)
            _label(draw, xx, top + (0 if n % 2 else 12), mark.label, PRESS, font)
        elif mark.kind == "refusal":
            top, bottom = layout.rows["refusals"]
            draw.polygon(((xx, top), (xx - 5, top + 10), (xx + 5, top + 10)), fill=REFUSAL)
            _label(draw, xx, top + (0 if n % 2 else 12), mark.label, REFUSAL, font)
