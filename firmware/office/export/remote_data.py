"""The remote parties of a session as the export sees them (issue 17): each party's own sealed
streams and what the chain says about their call.

A party (``p1``, ``p2``, …) has SEGMENT records ``stream: "remote_video"`` (``.h264`` + ``.pts``
+ ``.rtp``: the counter's video format, each frame's time its arrival on the unit's
CLOCK_MONOTONIC) and ``stream: "remote_audio"`` (``.wav`` + ``.rtp``: 48 kHz mono, placed like
the counter's audio by ``first_sample_ns``), all with ``party``. Its call is told by EVENTs
``remote_joined``, ``remote_left``, ``remote_media_lost``, ``remote_refused``, ``remote_stats``,
``remote_fault``, the meeting's ``remote_meeting`` (``admitted`` carries the roles), and by GAPs
with ``party`` (``network_drop``, ``dropped_frames``). Every time here is on the session's main
time base (see :mod:`firmware.office.export.wallclock`); a field a record lacks is left out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.evidence import records as rt
from firmware.office.export.session_data import (AudioSegment, GapSpan, SessionData,
                                                 VideoSegment)

PARTY_ID = re.compile(r"[a-z0-9]{1,16}")


@dataclass(frozen=True)
class PartyEvent:
    """Something that happened to a party's call at ``at_ns``: ``kind`` is the EVENT's kind
    (``remote_joined``, ``remote_left``, …; for ``remote_meeting`` the meeting's ``event``),
    ``detail`` a short text from the record's fields, ``seq`` the record's sequence number."""

    kind: str
    at_ns: int
    detail: str
    seq: int
    reason: str | None = None


@dataclass
class PartyRecording:
    """One remote party: its sealed streams, sorted by time, and its call on the chain."""

    party: str
    roles: tuple[str, ...] = ()
    video: list[VideoSegment] = field(default_factory=list)
    audio: list[AudioSegment] = field(default_factory=list)
    events: list[PartyEvent] = field(default_factory=list)
    gaps: list[GapSpan] = field(default_factory=list)
    stats: int = 0                          # remote_stats records
    worst_rtt_us: int | None = None
    packets_lost: int = 0                   # the most one connection reported lost

    @property
    def label(self) -> str:
        """``p1 policyholder`` (the roles chosen when admitted, if the chain has them)."""
        return f"{self.party} {'/'.join(self.roles)}".strip()

    def joins(self) -> list[PartyEvent]:
        return [e for e in self.events if e.kind == "remote_joined"]

    def leaves(self) -> list[PartyEvent]:
        return [e for e in self.events if e.kind == "remote_left"]


@dataclass
class RemoteSession:
    """The session's remote parties (by id, in order of appearance) and the meeting's events
    that name no party (opened, locked, expired, ended, unavailable)."""

    parties: dict[str, PartyRecording] = field(default_factory=dict)
    meeting: list[PartyEvent] = field(default_factory=list)

    @property
    def with_media(self) -> list[PartyRecording]:
        return [p for p in self.parties.values() if p.video or p.audio]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


#: Not shown in an event's detail: named elsewhere in its row, or a raw clock reading (the GAP
#: that follows gives the range in wall time).
_SKIP = {"kind", "party", "at_ns", "event", "from_ns"}


def _detail(data: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(data.items())
                     if k not in _SKIP and isinstance(v, (int, str, bool)))[:300]


def _reason(data: dict[str, Any]) -> str | None:
    reason = data.get("reason")
    return reason[:100] if isinstance(reason, str) else None


def read_remote(session: SessionData) -> RemoteSession:
    """The remote parties of ``session`` from its records (already read by ``load_session``)."""
    out = RemoteSession()

    def party(name: Any) -> PartyRecording | None:
        if not isinstance(name, str) or not PARTY_ID.fullmatch(name):
            return None
        if name not in out.parties:
            out.parties[name] = PartyRecording(name)
        return out.parties[name]

    gaps_by_seq = {g.seq: g for g in session.gaps}
    for rec in session.records:
        data, boot = rec.data, rec.body["boot_id"]

        def t(value: Any) -> int | None:
            value = _int(value)
            return None if value is None else session.clock.to_main(boot, value)

        at = t(data.get("at_ns")) or t(rec.body["mono_ns"])
        if rec.type == rt.SEGMENT and data.get("stream") in ("remote_video", "remote_audio"):
            p = party(data.get("party"))
            if p is not None:
                _segment(session, p, rec, t)
        elif rec.type == rt.GAP and data.get("party") is not None:
            p = party(data.get("party"))
            if p is not None and rec.seq in gaps_by_seq:
                p.gaps.append(gaps_by_seq[rec.seq])
        elif rec.type == rt.EVENT:
            kind = str(data.get("kind", ""))
            if kind == "remote_meeting":
                event = PartyEvent(str(data.get("event", "?")), at, _detail(data), rec.seq,
                                   _reason(data))
                p = party(data.get("party")) if data.get("party") is not None else None
                if p is None:
                    out.meeting.append(event)
                    continue
                p.events.append(event)
                roles = data.get("roles")
                if event.kind == "admitted" and isinstance(roles, list):
                    p.roles = tuple(str(r) for r in roles if isinstance(r, str))[:8]
            elif kind.startswith("remote_"):
                p = party(data.get("party"))
                if p is None:
                    continue
                if kind == "remote_stats":
                    _stats(p, data)
                else:
                    p.events.append(PartyEvent(kind, at, _detail(data), rec.seq, _reason(data)))
    for p in out.parties.values():
        p.video.sort(key=lambda v: v.number)
        p.audio.sort(key=lambda a: a.first_sample_ns)
        p.events.sort(key=lambda e: (e.at_ns, e.seq))
        p.gaps.sort(key=lambda g: g.start_ns)
    return out


def _segment(session: SessionData, p: PartyRecording, rec, t) -> None:
    data, files = rec.data, rec.files
    paths: dict[str, Path] = {Path(f.path).suffix: session.path(f.path) for f in files}
    if data["stream"] == "remote_video" and ".h264" in paths and ".pts" in paths:
        p.video.append(VideoSegment(int(data.get("segment", len(p.video) + 1)), paths[".h264"],
                                    paths[".pts"], rec.body["boot_id"],
                                    int(data.get("width", 0)), int(data.get("height", 0)),
                                    int(data.get("fps", 30))))
    elif data["stream"] == "remote_audio" and ".wav" in paths \
            and _int(data.get("first_sample_ns")) is not None:
        p.audio.append(AudioSegment(int(data.get("segment", len(p.audio) + 1)), paths[".wav"],
                                    t(data["first_sample_ns"]), int(data.get("sample_index", 0)),
                                    int(data.get("rate", 48_000)), int(data.get("channels", 1)),
                                    int(data.get("frames", 0))))


def _stats(p: PartyRecording, data: dict[str, Any]) -> None:
    p.stats += 1
    rtt = _int(data.get("rtt_us"))
    if rtt is not None:
        p.worst_rtt_us = rtt if p.worst_rtt_us is None else max(p.worst_rtt_us, rtt)
    lost = 0
    for stream in ("audio", "video"):
        s = data.get(stream)
        if isinstance(s, dict):
            lost += _int(s.get("packets_lost")) or 0
    p.packets_lost = max(p.packets_lost, lost)     # counts are per connection, cumulative
