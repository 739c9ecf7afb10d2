"""What ``dualrec demo --remote`` came to on the remote side, read back from the sealed session
(its records: the meeting, the party's joins, streams, drops, photo and signature) together
with what the demo saw happen (:class:`~firmware.cli.demo_remote_call.CallFacts`) and what the
party's own page saw."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware.cli.demo_remote_call import CallFacts, RemotePerson
from firmware.office.export.session_data import load_session

NS = 1_000_000_000
STREAMS = ("remote_video", "remote_audio")


def _seconds(segments: list[dict[str, Any]]) -> float:
    """The media time the segments hold: audio by its samples, video from first to last
    frame (plus one frame)."""
    total = 0.0
    for s in segments:
        if s.get("stream") == "remote_audio":
            total += s.get("frames", 0) / (s.get("rate") or 48_000)
        elif s.get("frames"):
            fps = s.get("fps") or 30
            total += (s.get("last_ns", 0) - s.get("first_ns", 0)) / NS + 1 / fps
    return round(total, 1)


def remote_outcome(session_dir: Path, facts: CallFacts, person: RemotePerson,
                   party: dict[str, Any]) -> dict[str, Any]:
    """The remote side's facts (JSON-ready); ``joined`` is whether the party's call reached
    the unit and left sealed media of both kinds."""
    session = load_session(session_dir)
    events = [r.data for r in session.records if r.type == "EVENT"]
    meeting = [e for e in events if e.get("kind") == "remote_meeting"]
    admitted = next((m for m in meeting if m.get("event") == "admitted"), {})
    pid = admitted.get("party")
    joins = [e for e in events if e.get("kind") == "remote_joined" and e.get("party") == pid]
    segments = {s: [r.data for r in session.records if r.type == "SEGMENT"
                    and r.data.get("stream") == s and r.data.get("party") == pid]
                for s in STREAMS}
    gaps = [{"kind": r.data.get("kind"), "stream": r.data.get("stream"),
             "reason": r.data.get("reason"),
             "seconds": round((r.data.get("end_ns", 0) - r.data.get("start_ns", 0)) / NS, 2)}
            for r in session.records if r.type == "GAP" and r.data.get("party") == pid]
    left = [e for e in events if e.get("kind") == "remote_left" and e.get("party") == pid]
    photos = [e for e in events if e.get("kind") == "remote_photo" and e.get("party") == pid]
    id_checks = [e for e in events if e.get("kind") == "document_check"
                 and e.get("party") == pid]
    signatures = [e for e in events if e.get("kind") == "remote_signature"
                  and e.get("party") == pid]
    refused = [e for e in events if e.get("kind") == "next_refused"
               and str(e.get("reason", "")).startswith("remote_")]
    joined = bool(joins) and all(segments[s] for s in STREAMS)
    return {
        "party_kind": facts.party_kind,
        "person": {"name": person.name, "seats": list(person.seats),
                   "roles": list(person.roles)},
        "meeting": {"opened": any(m.get("event") == "opened" for m in meeting),
                    "ended": any(m.get("event") == "ended" for m in meeting),
                    "events": [m.get("event") for m in meeting],
                    "notices": party.get("notices", [])},
        "sms": {"to": person.name, "link": facts.link},
        "refused_before_join": facts.refused_ns is not None,
        "refusals": [{"node": e.get("node"), "reason": e.get("reason")} for e in refused],
        "joined": joined,
        "party": pid, "roles": admitted.get("roles"),
        "connections": [j.get("connection") for j in joins],
        "codecs": [{"audio": j.get("audio_codec"), "video": j.get("video_codec")}
                   for j in joins],
        "candidates": [{"unit": j.get("local_candidate"), "party": j.get("remote_candidate")}
                       for j in joins],
        "seconds_record_to_joined": facts.seconds(facts.record_ns, facts.joined_ns),
        "seconds_link_to_joined": facts.seconds(facts.link_opened_ns, facts.joined_ns),
        "segments": {s: len(segments[s]) for s in STREAMS},
        "seconds": {s: _seconds(segments[s]) for s in STREAMS},
        "video_frames": sum(s.get("frames", 0) for s in segments["remote_video"]),
        "gaps": gaps,
        "media_lost": len([e for e in events if e.get("kind") == "remote_media_lost"
                           and e.get("party") == pid]),
        "id_photos": [p.get("photo") for p in photos if p.get("photo")],
        "id_check": id_checks[-1].get("outcome") if id_checks else None,
        "signatures": [{"node": s.get("node"), "file": s.get("file"),
                        "strokes": s.get("strokes")} for s in signatures],
        "answers_said": facts.answers,
        "left": left[-1].get("reason") if left else None,
        "page": {k: v for k, v in party.items() if k != "notices"},
    }


def format_remote(remote: dict[str, Any]) -> str:
    """The remote side as lines for the demo's summary."""
    seg, sec = remote["segments"], remote["seconds"]
    lines = [
        f"remote      {remote['person']['name']} ({remote['party_kind']}): meeting "
        + ("opened" if remote["meeting"]["opened"] else "NOT opened")
        + (", ended" if remote["meeting"]["ended"] else "")
        + f"; back office notices {', '.join(remote['meeting']['notices']) or 'none'}",
        "joined      " + (f"party {remote['party']} ({', '.join(remote['roles'] or [])}), "
                          f"connection {', '.join(map(str, remote['connections']))}; "
                          f"{remote['seconds_record_to_joined']} s after RECORD, "
                          f"{remote['seconds_link_to_joined']} s after opening the link"
                          if remote["joined"] else "NO (the party's call never reached the "
                          "unit)"),
        "refused     " + (", ".join(f"{r['node']}: {r['reason']}"
                                     for r in remote["refusals"]) or "none")
        + " (NEXT while the remote party was missing)",
        f"remote A/V  video {seg['remote_video']} segments, {sec['remote_video']} s "
        f"({remote['video_frames']} frames); audio {seg['remote_audio']} segments, "
        f"{sec['remote_audio']} s; gaps {len(remote['gaps'])}, media lost "
        f"{remote['media_lost']} times",
        f"remote ID   {', '.join(remote['id_photos']) or 'no photo'} (read: "
        f"{remote['id_check'] or 'not checked'}); signatures "
        + (", ".join(f"{s['node']} ({s['strokes']} strokes)" for s in remote["signatures"])
           or "none on the phone"),
        f"left        {remote['left'] or 'not recorded'}",
    ]
    return "\n".join(lines)
