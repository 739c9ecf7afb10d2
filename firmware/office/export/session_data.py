"""One session as the export sees it: its records read from the spool's ledger, sorted into
media segments, nodes, presses, refusals, prompts, gaps, signatures and quality findings.

Every time here is CLOCK_MONOTONIC ns on the session's main time base (the boot it started in;
see :mod:`firmware.office.export.wallclock`). docs/evidence-format.md sections 3, 4 and 7 say what the
records hold; a field a record lacks is left out, never guessed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from firmware.evidence import records as rt
from firmware.errors import NotEvidenceError
from firmware.office.export.wallclock import ClockMap
from firmware.evidence.chain import chain_records
from firmware.evidence.ledger_files import LEDGER_DIR
from firmware.evidence.records import Record

SESSION_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")

#: Moves a time of a record's ``data`` (CLOCK_MONOTONIC ns of that record's boot, or of the boot
#: named) onto the main time base; None stays None.
ToMain = Callable[..., "int | None"]


class NotASessionError(NotEvidenceError):
    """The path given is not a session directory of a dualrec spool."""


@dataclass(frozen=True)
class VideoSegment:
    """``video-NNNNNN.h264`` + ``.pts``; ``boot_id`` is the boot its ``.pts`` times belong to."""

    number: int
    h264: Path
    pts: Path
    boot_id: str
    width: int
    height: int
    fps: int


@dataclass(frozen=True)
class AudioSegment:
    """``audio-NNNNNN.wav``: sample *k* was captured at ``first_sample_ns + k * 1e9 / rate``
    (``first_sample_ns`` on the main time base)."""

    number: int
    wav: Path
    first_sample_ns: int
    sample_index: int
    rate: int
    channels: int
    frames: int


@dataclass(frozen=True)
class NodeSpan:
    id: str
    title: str
    kind: str
    index: int
    start_ns: int
    end_ns: int | None
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mark:
    """Something that happened at an instant (a press, a refusal) or over a span (a prompt)."""

    kind: str          # "press", "refusal", "prompt"
    at_ns: int
    end_ns: int | None
    label: str
    node: str | None


@dataclass(frozen=True)
class GapSpan:
    kind: str
    start_ns: int
    end_ns: int
    stream: str | None
    detail: str
    seq: int
    party: str | None = None        # a remote party's GAP (issue 17): its id


@dataclass(frozen=True)
class QualityFinding:
    check: str
    node: str | None
    start_ns: int | None
    end_ns: int | None
    detail: str


@dataclass(frozen=True)
class SignatureFiles:
    name: str
    png: Path | None
    json: Path | None
    node: str | None
    strokes: int | None
    start_ns: int | None
    duration_ns: int | None


@dataclass(frozen=True)
class Photo:
    path: Path
    node: str | None
    taken_ns: int | None


@dataclass
class SessionData:
    spool_root: Path
    session_id: str
    device_id: str
    records: list[Record]
    clock: ClockMap
    start: Record | None = None
    end: Record | None = None
    video: list[VideoSegment] = field(default_factory=list)
    audio: list[AudioSegment] = field(default_factory=list)
    nodes: list[NodeSpan] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    gaps: list[GapSpan] = field(default_factory=list)
    findings: list[QualityFinding] = field(default_factory=list)
    signatures: list[SignatureFiles] = field(default_factory=list)
    photos: list[Photo] = field(default_factory=list)
    analysis: Path | None = None

    @property
    def start_data(self) -> dict[str, Any]:
        return self.start.data if self.start else {}

    @property
    def end_data(self) -> dict[str, Any]:
        return self.end.data if self.end else {}

    @property
    def first_ns(self) -> int:
        """The session's first record, on the main time base."""
        return self.records[0].body["mono_ns"]

    @property
    def last_ns(self) -> int:
        rec = self.records[-1]
        return self.clock.to_main(rec.body["boot_id"], rec.body["mono_ns"])

    def path(self, rel: str) -> Path:
        return self.spool_root / rel


def locate(session_dir: Path) -> tuple[Path, str]:
    """The spool root and session id of ``session_dir``; :class:`NotASessionError` if it is
    not ``SPOOL/sessions/<id>`` of a spool with a ledger."""
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        raise NotASessionError(f"{session_dir}: not a directory")
    sid = session_dir.resolve().name
    spool = session_dir.resolve().parent.parent
    if session_dir.resolve().parent.name != "sessions" or not SESSION_ID.fullmatch(sid):
        raise NotASessionError(f"{session_dir}: not a session directory (expected "
                               "SPOOL/sessions/YYYYMMDDTHHMMSSZ-xxxxxx)")
    if not (spool / LEDGER_DIR).is_dir():
        raise NotASessionError(f"{session_dir}: {spool} has no ledger/, so it is not a spool")
    return spool, sid


def session_records(spool: Path, session_id: str) -> list[Record]:
    """The well-formed records of ``session_id``, in ledger order (damage is verify's job)."""
    return [rec for rec in chain_records(spool) if rec.session == session_id]


def load_session(session_dir: Path) -> SessionData:
    """Read a session's records and sort them; raises :class:`NotASessionError`."""
    spool, sid = locate(session_dir)
    recs = session_records(spool, sid)
    starts = [r for r in recs if r.type == rt.SESSION_START]
    if not starts:
        raise NotASessionError(f"{session_dir}: the ledger has no SESSION_START for {sid}")
    main_boot = starts[0].body["boot_id"]
    session = SessionData(spool, sid, starts[0].body["device"], recs,
                          ClockMap.from_records(recs, main_boot), start=starts[0])
    for rec in recs:
        _sort(session, rec)
    if session.end is not None:
        session.nodes = (merge_end_nodes(session) if session.nodes
                         else _nodes_from_end(session))
        if not any(m.kind == "refusal" for m in session.marks):
            session.marks += _refusals_from_end(session)
    session.nodes.sort(key=lambda n: n.start_ns)
    session.marks.sort(key=lambda m: m.at_ns)
    session.audio.sort(key=lambda a: a.first_sample_ns)
    session.video.sort(key=lambda v: v.number)
    return session


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sort(s: SessionData, rec: Record) -> None:
    data, boot = rec.data, rec.body["boot_id"]

    def t(value: Any, in_boot: str | None = None) -> int | None:
        value = _int(value)
        return None if value is None else s.clock.to_main(in_boot or boot, value)

    if rec.type == rt.SESSION_END:
        s.end = rec
        quality = data.get("quality") or {}
        for f in quality.get("findings") or []:
            if isinstance(f, dict):
                s.findings.append(QualityFinding(
                    str(f.get("check", "?")), f.get("node"), t(f.get("start_ns")),
                    t(f.get("end_ns")), str(f.get("detail", ""))))
    elif rec.type == rt.SEGMENT:
        _segment(s, rec, t)
    elif rec.type == rt.GAP:
        last = data.get("last_record") if isinstance(data.get("last_record"), dict) else {}
        start = t(data.get("start_ns"), last.get("boot_id")) or t(rec.body["mono_ns"])
        end = t(data.get("end_ns"), data.get("end_boot_id")) or start
        detail = ", ".join(f"{k}={v}" for k, v in sorted(data.items())
                           if k not in ("kind", "start_ns", "end_ns", "stream")
                           and isinstance(v, (int, str, bool)))
        party = data.get("party")
        s.gaps.append(GapSpan(str(data.get("kind", "?")), start, end, data.get("stream"),
                              detail, rec.seq, party if isinstance(party, str) else None))
    elif rec.type == rt.EVENT:
        _event(s, rec, t)


def _segment(s: SessionData, rec: Record, t: ToMain) -> None:
    data, files = rec.data, rec.files
    stream = data.get("stream")
    paths = {Path(f.path).suffix: s.path(f.path) for f in files}
    if stream == "video" and ".h264" in paths and ".pts" in paths:
        s.video.append(VideoSegment(int(data.get("segment", len(s.video) + 1)), paths[".h264"],
                                    paths[".pts"], rec.body["boot_id"], int(data.get("width", 0)),
                                    int(data.get("height", 0)), int(data.get("fps", 30))))
    elif stream == "audio" and ".wav" in paths and _int(data.get("first_sample_ns")) is not None:
        s.audio.append(AudioSegment(int(data.get("segment", len(s.audio) + 1)), paths[".wav"],
                                    t(data["first_sample_ns"]), int(data.get("sample_index", 0)),
                                    int(data.get("rate", 48_000)), int(data.get("channels", 1)),
                                    int(data.get("frames", 0))))
    elif stream == "signature":
        name = Path(files[0].path).stem if files else f"signature-{len(s.signatures) + 1}"
        s.signatures.append(SignatureFiles(name, paths.get(".png"), paths.get(".json"),
                                           data.get("node"), _int(data.get("strokes")),
                                           t(data.get("start_ns")), _int(data.get("duration_ns"))))
    elif stream == "photo":
        for f in files:
            s.photos.append(Photo(s.path(f.path), data.get("node"), t(data.get("taken_ns"))))
    elif stream == "analysis" and files:
        s.analysis = s.path(files[0].path)
    elif stream == "speech_check":        # findings of the check made after the session
        for f in data.get("findings") or []:
            if isinstance(f, dict):
                s.findings.append(QualityFinding(
                    str(f.get("check", "?")), f.get("node"), t(f.get("start_ns")),
                    t(f.get("end_ns")), str(f.get("detail", ""))))


_BUTTON_LABELS = {"NEXT": "NEXT", "REPLAY": "REPLAY", "RECORD": "REC"}


def _event(s: SessionData, rec: Record, t: ToMain) -> None:
    data = rec.data
    kind = data.get("kind")
    at = t(data.get("at_ns")) or t(rec.body["mono_ns"])
    if kind == "node_start":
        index = _int(data.get("index"))
        s.nodes.append(NodeSpan(str(data.get("node", "?")), str(data.get("title", "")),
                                str(data.get("node_kind", data.get("type", ""))),
                                len(s.nodes) if index is None else index, at, None))
    elif kind in ("node_end", "node_abandoned"):
        node = data.get("node")
        for i in range(len(s.nodes) - 1, -1, -1):
            if s.nodes[i].id == node and s.nodes[i].end_ns is None:
                n = s.nodes[i]
                s.nodes[i] = NodeSpan(n.id, n.title, n.kind, n.index,
                                      t(data.get("start_ns")) or n.start_ns,
                                      t(data.get("end_ns")) or at, n.evidence)
                break
    elif kind == "press":
        button = str(data.get("button", "?"))
        label = _BUTTON_LABELS.get(button, button)
        if data.get("gesture") == "hold":
            label += " (hold)"
        s.marks.append(Mark("press", at, None, label, data.get("node")))
    elif kind == "next_refused":
        s.marks.append(Mark("refusal", at, None, str(data.get("reason", "?")), data.get("node")))
    elif kind == "prompt":
        start = t(data.get("start_ns")) or at
        label = "replay" if data.get("replay") else "prompt"
        s.marks.append(Mark("prompt", start, t(data.get("end_ns")), label, data.get("node")))


def _nodes_from_end(s: SessionData) -> list[NodeSpan]:
    """The nodes as SESSION_END lists them (used when no node_start events are on the chain)."""
    boot = s.end.body["boot_id"]
    out = []
    for i, n in enumerate(s.end_data.get("nodes") or []):
        if not isinstance(n, dict) or _int(n.get("start_ns")) is None:
            continue
        end = _int(n.get("end_ns"))
        out.append(NodeSpan(str(n.get("id", "?")), str(n.get("title", "")),
                            str(n.get("kind", "")), i, s.clock.to_main(boot, n["start_ns"]),
                            None if end is None else s.clock.to_main(boot, end),
                            tuple(str(e) for e in n.get("evidence") or [])))
    return out


def _refusals_from_end(s: SessionData) -> list[Mark]:
    """The refusals SESSION_END lists (used when no next_refused events are on the chain)."""
    boot, listed = s.end.body["boot_id"], s.end_data.get("refusals")
    if not isinstance(listed, list):  # the session flow may record only a count
        return []
    return [Mark("refusal", s.clock.to_main(boot, r["at_ns"]), None, str(r.get("reason", "?")),
                 r.get("node")) for r in listed
            if isinstance(r, dict) and _int(r.get("at_ns")) is not None]


def merge_end_nodes(s: SessionData) -> list[NodeSpan]:
    """The nodes with kind and evidence filled in from SESSION_END's ``nodes`` where the events
    lack them (events give the times; SESSION_END the summary)."""
    summary = {n.get("id"): n for n in s.end_data.get("nodes") or [] if isinstance(n, dict)}
    out = []
    for n in s.nodes:
        extra = summary.get(n.id) or {}
        out.append(NodeSpan(n.id, n.title or str(extra.get("title", "")),
                            n.kind or str(extra.get("kind", "")), n.index, n.start_ns,
                            n.end_ns, n.evidence or tuple(str(e) for e in
                                                          extra.get("evidence") or [])))
    return out
