"""``dualrec export``: the review copy of one session — a video with captions, the signatures,
the timeline picture and an HTML report, written into one directory.

Files written into ``out_dir``: ``review.mp4``, ``timeline.png``, ``report.html``,
``signatures/NAME.png`` and ``photos/NAME.jpg``. The export only reads the spool.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from firmware.errors import DualrecError, NotEvidenceError
from firmware.office.export.audio_mix import MixedAudio
from firmware.office.export.audio_source import RecordedAudio
from firmware.office.export.captions import Captioner
from firmware.office.export.fonts import CJK_FONT_PACKAGE, FontChoice, choose_font
from firmware.office.export.media import MediaOpener, open_media
from firmware.office.export.mp4 import Mp4Summary, write_mp4
from firmware.office.export.overlay import Overlay
from firmware.office.export.panels import PanelLayout
from firmware.office.export.remote_data import PartyRecording, read_remote
from firmware.office.export.report import ReportInputs, render_report
from firmware.office.export.session_data import Photo, SessionData, load_session
from firmware.office.export.side_by_side import (REMOTE_HOLD_NS, PanelSource, party_absence,
                                                 write_side_by_side)
from firmware.office.export.speech import read_speech, render_speech
from firmware.office.export.spoken import read_spoken, render_spoken
from firmware.office.export.timeline import (PartyRows, TimelineLayout, TimelineModel,
                                             draw_timeline)
from firmware.office.export.video_source import RecordedVideo
from firmware.evidence.verify import verify_path
from firmware.evidence.verify.report import VerifyReport

NS_PER_S = 1_000_000_000
VIDEO_NAME = "review.mp4"
TIMELINE_NAME = "timeline.png"
REPORT_NAME = "report.html"


class ExportError(DualrecError, ValueError):
    """The export cannot be made as asked (for instance, into the spool itself)."""


@dataclass
class ExportResult:
    """What was written, and what a reviewer must be warned about."""

    out_dir: Path
    report: Path
    timeline: Path
    video: Mp4Summary | None
    timeline_layout: TimelineLayout
    signatures: list[Path] = field(default_factory=list)
    photos: list[Path] = field(default_factory=list)
    verify: VerifyReport | None = None
    verify_error: str | None = None
    problems: list[str] = field(default_factory=list)
    font: FontChoice | None = None

    @property
    def verified(self) -> bool:
        return self.verify is not None and self.verify.ok


def _check_out_dir(out_dir: Path, spool_root: Path) -> None:
    out, spool = out_dir.resolve(), spool_root.resolve()
    if out == spool or spool in out.parents:
        raise ExportError(f"--out {out_dir}: inside the spool {spool_root}; a review copy must "
                          "not be written among the evidence (verify would flag every file)")


def _spans(times: list[int], period_ns: int,
           max_hole_ns: int | None = None) -> list[tuple[int, int]]:
    """Runs of frame times with no hole longer than ``max_hole_ns`` (1.5 periods unless
    given), as (first, last + period)."""
    max_hole_ns = period_ns * 3 // 2 if max_hole_ns is None else max_hole_ns
    spans: list[tuple[int, int]] = []
    for t in times:
        if spans and t - (spans[-1][1] - period_ns) <= max_hole_ns:
            spans[-1] = (spans[-1][0], t + period_ns)
        else:
            spans.append((t, t + period_ns))
    return spans


def _audio_spans(audio: RecordedAudio) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for seg in audio.segments:
        a = seg.first_sample_ns
        b = a + seg.frames * NS_PER_S // seg.rate
        if spans and a - spans[-1][1] <= 2_000_000:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        else:
            spans.append((a, b))
    return spans


def _analysis(session: SessionData, opener: MediaOpener, problems: list[str]):
    """(audio levels, face samples) from the sealed ``analysis.json``, or None."""
    if session.analysis is None:
        return None
    try:
        doc = json.loads(opener(session.analysis))
        levels = [(int(a["t"]), float(a["rms_dbfs"])) for a in doc.get("audio") or []]
        faces = [(int(v["t"]), v.get("faces"), v.get("brightness")) for v in doc.get("video")
                 or []]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(f"{session.analysis.name}: unreadable ({exc}); no faces on the timeline")
        return None
    return levels, faces


class _Stills:
    """The latest photo taken at or before an instant, decoded once (for audio-only video)."""

    def __init__(self, photos: list[Photo], opener: MediaOpener) -> None:
        self._photos = sorted((p for p in photos if p.taken_ns is not None),
                              key=lambda p: p.taken_ns)
        self._opener = opener
        self._cache: tuple[Path, np.ndarray | None] | None = None

    def __call__(self, t_ns: int) -> np.ndarray | None:
        latest = None
        for photo in self._photos:
            if photo.taken_ns <= t_ns:
                latest = photo
        if latest is None:
            return None
        if self._cache is None or self._cache[0] != latest.path:
            try:
                bgr = cv2.imdecode(np.frombuffer(self._opener(latest.path), np.uint8),
                                   cv2.IMREAD_COLOR)
            except OSError:
                bgr = None
            self._cache = (latest.path, None if bgr is None else bgr[:, :, ::-1].copy())
        return self._cache[1]


def _copy_signatures(session: SessionData, opener: MediaOpener, out_dir: Path,
                     problems: list[str]) -> list[tuple[Path, str | None, str]]:
    """Each sealed signature's PNG (re-drawn from its JSON when no PNG was sealed)."""
    from drivers.sigpad import Signature
    out = []
    for sig in session.signatures:
        target = out_dir / "signatures" / f"{sig.name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if sig.png is not None:
                target.write_bytes(opener(sig.png))
            elif sig.json is not None:
                Signature.from_json(opener(sig.json)).render_png(target)
            else:
                continue
        except (OSError, ValueError) as exc:
            problems.append(f"signature {sig.name}: cannot be copied ({exc})")
            continue
        out.append((target, sig.node, sig.name))
    return out


def _copy_photos(session: SessionData, opener: MediaOpener, out_dir: Path,
                 problems: list[str]) -> list[tuple[Path, str | None]]:
    out = []
    for photo in session.photos:
        target = out_dir / "photos" / photo.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.write_bytes(opener(photo.path))
        except OSError as exc:
            problems.append(f"{photo.path.name}: cannot be copied ({exc})")
            continue
        out.append((target, photo.node))
    return out


def _media_span(video: RecordedVideo, audio: RecordedAudio,
                parties: list[tuple[RecordedVideo, RecordedAudio]] = ()) -> tuple[int, int] | None:
    """(t0, end) of the review video: the earliest start and the latest end of the counter's
    video and audio and every remote party's (main time base, ns), or None when there is
    nothing."""
    starts: list[int] = []
    ends: list[int] = []
    for v, a in [(video, audio), *parties]:
        period = NS_PER_S // max(1, v.fps)
        if v.times_ns:
            starts.append(v.times_ns[0])
            ends.append(v.times_ns[-1] + period)
        if a.first_ns is not None:
            starts.append(a.first_ns)
            ends.append(a.end_ns)
    return (min(starts), max(ends)) if starts else None


@dataclass
class _Party:
    """A remote party's recording opened for the review video."""

    recording: PartyRecording
    video: RecordedVideo
    audio: RecordedAudio


def _write_side_by_side(session: SessionData, out: Path, video: RecordedVideo,
                        audio: RecordedAudio, parties: list[_Party], captioner: Captioner,
                        font: FontChoice, opener: MediaOpener, t0: int, end: int) -> Mp4Summary:
    """The counter on the left and each party to its right, the sound mixed."""
    layout = PanelLayout.make(
        [("counter", "counter", video.size)]
        + [(p.recording.party, f"remote {p.recording.label}", p.video.size) for p in parties],
        height=video.size[1] if video.size else None)
    period = NS_PER_S // max(1, video.fps)
    sources = [PanelSource(layout.panels[0], video, period * 3 // 2, captioner.no_video_reason,
                           [], still_at=_Stills(session.photos, opener))]
    for panel, p in zip(layout.panels[1:], parties):
        times = p.video.times_ns
        hold = max(REMOTE_HOLD_NS, 3 * NS_PER_S // max(1, p.video.fps) // 2)
        sources.append(PanelSource(
            panel, p.video, hold,
            party_absence(p.recording, times[0] if times else None,
                          times[-1] if times else None),
            [g for g in p.recording.gaps if g.stream in (None, "remote_video")],
            stops=tuple(e.at_ns for e in p.recording.leaves())))
    return write_side_by_side(out, sources, layout,
                              MixedAudio([audio] + [p.audio for p in parties]), captioner,
                              font, fps=video.fps, t0_ns=t0, end_ns=end,
                              title=f"dualrec review copy {session.session_id}")


def export_session(session_dir: Path, out_dir: Path, *, opener: MediaOpener = open_media,
                   font: FontChoice | None = None) -> ExportResult:
    """Write the review copy of the session at ``session_dir`` (``SPOOL/sessions/<id>``) into
    ``out_dir``. Raises :class:`~firmware.office.export.session_data.NotASessionError` for a path
    that is not a session and :class:`ExportError` for an unusable ``out_dir``; a session that
    does not verify is exported all the same, with the findings in the result and the report.
    """
    session_dir, out_dir = Path(session_dir), Path(out_dir)
    session = load_session(session_dir)
    _check_out_dir(out_dir, session.spool_root)
    out_dir.mkdir(parents=True, exist_ok=True)
    verify, verify_error = None, None
    try:
        verify = verify_path(session_dir)
    except (NotEvidenceError, OSError) as exc:
        verify_error = str(exc)
    font = font or choose_font()
    problems: list[str] = []
    if not font.cjk and any(not n.title.isascii() for n in session.nodes):
        problems.append(f"no Chinese font on this machine: the video and timeline show node ids "
                        f"instead of titles (install the package {CJK_FONT_PACKAGE})")

    video = RecordedVideo(session.video, opener, session.clock.to_main)
    audio = RecordedAudio(session.audio, opener)
    remote = read_remote(session)
    parties = [_Party(p, RecordedVideo(p.video, opener, session.clock.to_main),
                      RecordedAudio(p.audio, opener)) for p in remote.with_media]
    period = NS_PER_S // max(1, video.fps)
    span = _media_span(video, audio, [(p.video, p.audio) for p in parties])
    video_summary = None
    if span is not None:
        t0, end = span
        captioner = Captioner(session.clock, session.nodes, font, gaps=session.gaps,
                              video_span=(video.times_ns[0], video.times_ns[-1])
                              if video.times_ns else None)
    if span is not None and parties:
        video_summary = _write_side_by_side(session, out_dir / VIDEO_NAME, video, audio,
                                            parties, captioner, font, opener, t0, end)
    elif span is not None:
        video_summary = write_mp4(out_dir / VIDEO_NAME, video, audio, captioner,
                                  lambda w, h: Overlay(w, h, font), t0_ns=t0, end_ns=end,
                                  still_at=_Stills(session.photos, opener),
                                  title=f"dualrec review copy {session.session_id}")
    else:
        t0 = end = session.first_ns
        problems.append("the session holds no audio or video: no review video was made")

    signatures = _copy_signatures(session, opener, out_dir, problems)
    photos = _copy_photos(session, opener, out_dir, problems)

    analysis = _analysis(session, opener, problems)
    levels, faces = analysis if analysis else (audio.levels(), [])
    model = TimelineModel(
        start_ns=min(session.first_ns, t0), end_ns=max(session.last_ns, end), video_t0_ns=t0,
        clock=session.clock, nodes=session.nodes, marks=session.marks, gaps=session.gaps,
        findings=session.findings, video_spans=_spans(video.times_ns, period),
        audio_spans=_audio_spans(audio), levels=levels, faces=faces,
        parties=[PartyRows(p.recording.party, p.recording.label,
                           _spans(p.video.times_ns, NS_PER_S // max(1, p.video.fps),
                                  REMOTE_HOLD_NS),
                           _audio_spans(p.audio), [e.at_ns for e in p.recording.joins()],
                           [e.at_ns for e in p.recording.leaves()]) for p in parties])
    timeline = out_dir / TIMELINE_NAME
    layout = draw_timeline(timeline, model, font)

    problems += [p for p in dict.fromkeys(
        video.problems + audio.problems
        + [q for p in parties for q in p.video.problems + p.audio.problems])]
    facts = {}
    if video_summary is not None:
        zero = f"time zero = {session.clock.format(t0, 3)} (UTC+08:00)"
        if parties:
            facts["Review video"] = (
                f"{VIDEO_NAME}: {video_summary.duration_s:.3f} s, {video_summary.frames} "
                "pictures made at the arrival of a frame of the counter "
                f"({video.frame_count} listed) or of a remote party, "
                f"{video_summary.filler_frames} made where no one had a frame; {zero}")
            facts["Side by side"] = (
                f"{video_summary.width}x{video_summary.height}: the counter on the left, then "
                + ", ".join(f"remote party {p.recording.label} ({p.video.frame_count} frames, "
                            f"{len(p.audio.segments)} audio segments)" for p in parties)
                + "; the sound is everyone's mixed, each on its own times")
        else:
            facts["Review video"] = (
                f"{VIDEO_NAME}: {video_summary.duration_s:.3f} s, {video_summary.frames} "
                f"recorded frames of {video.frame_count} listed, {video_summary.filler_frames} "
                f"black frames where there was no video; {zero}")
        if video.times_ns and audio.first_ns is not None:
            lag_ms = (video.times_ns[0] - audio.first_ns) / 1e6
            facts["A/V start"] = f"first video frame {lag_ms:+.1f} ms after the first audio sample"
    generated = (f"Exported {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC by "
                 f"dualrec {_version()}; font: {font.path or 'built-in'}")
    html = render_report(ReportInputs(
        session=session, nodes=session.nodes, verify=verify, verify_error=verify_error,
        video_name=VIDEO_NAME if video_summary else None, video_t0_ns=t0,
        video_facts=facts, timeline_name=TIMELINE_NAME,
        signatures=[(f"signatures/{p.name}", node, name) for p, node, name in signatures],
        photos=[(f"photos/{p.name}", node) for p, node in photos], problems=problems,
        generated=generated, speech=render_speech(read_speech(session, opener), session),
        spoken=render_spoken(read_spoken(session, opener)), remote=remote))
    report = out_dir / REPORT_NAME
    report.write_text(html, encoding="utf-8")
    return ExportResult(out_dir, report, timeline, video_summary, layout,
                        [p for p, _, _ in signatures], [p for p, _ in photos], verify,
                        verify_error, problems, font)


def _version() -> str:
    from firmware import __version__
    return __version__
