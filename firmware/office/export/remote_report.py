"""The report's section on remote parties (issue 17): for each party, its roles, joins, leaves,
drops (its GAPs with their ranges) and the rest of its call as the chain recorded it, and the
meeting's own events. Every text from the evidence is escaped."""
from __future__ import annotations

from html import escape
from typing import Callable

from firmware.office.export.remote_data import PartyRecording, RemoteSession

NS_PER_S = 1_000_000_000

#: Formats an instant of the main time base as HTML (the report's wall time with a seek link).
TimeHtml = Callable[[int | None], str]

_KIND_WORDS = {"remote_joined": "joined", "remote_left": "left",
               "remote_media_lost": "media lost", "remote_refused": "refused",
               "remote_fault": "fault", "remote_connection": "connection state"}


def _table(headers: tuple[str, ...], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _party(p: PartyRecording, at: TimeHtml) -> str:
    summary = (f"roles: {', '.join(p.roles) or '-'}; video segments: {len(p.video)}, audio "
               f"segments: {len(p.audio)}; joins: {len(p.joins())}, leaves: {len(p.leaves())}, "
               f"drops and other GAPs: {len(p.gaps)}; statistics records: {p.stats}"
               + (f", worst round trip {p.worst_rtt_us / 1000:.0f} ms"
                  if p.worst_rtt_us is not None else "")
               + (f", most packets one connection lost: {p.packets_lost}"
                  if p.stats else ""))
    events = [[at(e.at_ns), escape(_KIND_WORDS.get(e.kind, e.kind)), escape(e.detail),
               str(e.seq)] for e in p.events if e.kind != "remote_connection"]
    gaps = [[escape(g.kind), escape(g.stream or "-"), at(g.start_ns), at(g.end_ns),
             escape(f"{(g.end_ns - g.start_ns) / NS_PER_S:.3f} s"), escape(g.detail),
             str(g.seq)] for g in p.gaps]
    return "".join([
        f"<h3>Remote party {escape(p.party)}</h3><p>{escape(summary)}</p>",
        "<p>Joins, leaves and the meeting's events for this party:</p>",
        _table(("time", "event", "detail", "record"), events, "No events for this party."),
        "<p>Drops (GAPs of this party's streams):</p>",
        _table(("kind", "stream", "start", "end", "duration", "detail", "record"), gaps,
               "No drops: nothing of this party's streams was lost."),
    ])


def render_remote(remote: RemoteSession | None, at: TimeHtml) -> str:
    """The section as HTML; empty when the session had no remote party nor meeting."""
    if remote is None or (not remote.parties and not remote.meeting):
        return ""
    parts = ["<h2>Remote parties</h2>",
             "<p>Each remote party's picture is beside the counter's in the review video, each "
             "frame at its arrival on the unit's clock; a grey panel says why a party had no "
             "picture. The sound is everyone's mixed; each party's own audio is in the "
             "evidence (<code>remote-&lt;party&gt;-audio-*.wav</code>).</p>"]
    parts += [_party(p, at) for p in remote.parties.values()]
    if remote.meeting:
        rows = [[at(e.at_ns), escape(e.kind), escape(e.detail), str(e.seq)]
                for e in remote.meeting]
        parts += ["<h3>The meeting</h3>",
                  _table(("time", "event", "detail", "record"), rows, "")]
    return "\n".join(parts)
