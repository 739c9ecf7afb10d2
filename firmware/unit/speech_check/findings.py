"""What the session's speech is checked against, and what the check finds.

- ``misleading_statement``: a forbidden phrase ([understanding] forbidden_phrases) heard from
  the people at the counter (the unit's own approved prompts are not searched), with the time
  range where it was said;
- ``required_phrase_missing``: a node's ``required_phrases`` not heard during the node (the
  unit's voice included: proof the statement was audible in the recording), or its
  ``salesperson_phrases`` not heard from the counter during the node; the time range is the
  node's. Nodes the session never reached are not checked (the session's end already says the
  script was not completed).

Phrase matching is :func:`~firmware.unit.understanding.phrases.find_phrases` (toneless pinyin),
run in the understanding worker; times go there as seconds of CLOCK_MONOTONIC and come back.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from firmware.unit.speech_check.session_records import SessionRecords
from firmware.unit.understanding.service import Understanding

NS = 1_000_000_000
TOLERANCE_NS = NS          # a phrase's times are estimates within its segment


@dataclass(frozen=True)
class Finding:
    check: str
    detail: str            # the phrase
    node: str | None
    start_ns: int | None
    end_ns: int | None
    said_by: str | None = None

    def as_record(self) -> dict:
        record = asdict(self)
        if self.said_by is None:
            del record["said_by"]
        return record


def _seconds(segments: Sequence[Sequence]) -> list[tuple[float, float, str]]:
    return [(s[0] / NS, s[1] / NS, s[3]) for s in segments]


def check_speech(segments: Sequence[Sequence], session: SessionRecords, job: dict,
                 understanding: Understanding) -> list[Finding]:
    """``segments``: ``[start_ns, end_ns, voice, text]`` of the whole session."""
    room = [s for s in segments if s[2] == "room"]
    found: list[Finding] = []
    for phrase, start_s, end_s in understanding.find_phrases(_seconds(room),
                                                             list(job.get("forbidden") or [])):
        start, end = round(start_s * NS), round(end_s * NS)
        found.append(Finding("misleading_statement", phrase, session.node_at(start), start,
                             end))
    for key, heard_from, said_by in (("required", segments, None),
                                     ("salesperson", room, "salesperson")):
        wanted = job.get(key) or {}
        for node in session.nodes:
            phrases = wanted.get(node.name) or []
            if not phrases:
                continue
            near = [s for s in heard_from if s[1] >= node.start_ns - TOLERANCE_NS
                    and s[0] <= node.end_ns + TOLERANCE_NS]
            hits = understanding.find_phrases(_seconds(near), list(phrases)) if near else []
            heard = {phrase for phrase, start_s, end_s in hits
                     if node.start_ns - TOLERANCE_NS <= round(start_s * NS)
                     <= node.end_ns + TOLERANCE_NS}
            for phrase in phrases:
                if phrase not in heard:
                    found.append(Finding("required_phrase_missing", phrase, node.name,
                                         node.start_ns, node.end_ns, said_by))
    found.sort(key=lambda f: (f.start_ns or 0, f.check, f.detail))
    return found
