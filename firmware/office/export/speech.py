"""The report's section on speech understanding (issue 14): each answer the unit heard (meaning,
time, and with the insurer's key what was heard), and the post-session speech check (the
verdict it set, its findings, and with the key the transcript). Everything from the evidence
is escaped."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from typing import Any

from firmware.office.export.media import MediaOpener
from firmware.office.export.session_data import SessionData

CHECK_STREAM = "speech_check"
MAX_TRANSCRIPT_ROWS = 2000


@dataclass
class SpeechFacts:
    answers: list[dict[str, Any]] = field(default_factory=list)   # + "heard" when readable
    check: dict[str, Any] | None = None                            # the check's record data
    check_seq: int | None = None
    transcript: list[dict[str, Any]] | None = None
    referred: bool = False
    notes: list[str] = field(default_factory=list)


def _read_json(opener: MediaOpener, session: SessionData, rel: str, facts: SpeechFacts) -> Any:
    try:
        return json.loads(opener(session.path(rel)))
    except Exception as exc:  # noqa: BLE001 - the report says why it shows no text
        facts.notes.append(f"{rel}: not readable here ({type(exc).__name__}); export with "
                           "the insurer's key (--key) to read it")
        return None


def read_speech(session: SessionData, opener: MediaOpener) -> SpeechFacts:
    facts = SpeechFacts()
    for rec in session.records:
        data = rec.data
        if rec.type == "EVENT" and data.get("kind") == "answer":
            answer = dict(data)
            if isinstance(data.get("heard_file"), str):
                heard = _read_json(opener, session, data["heard_file"], facts)
                answer["heard"] = heard.get("heard") if isinstance(heard, dict) else None
            facts.answers.append(answer)
        elif rec.type == "EVENT" and data.get("kind") == "risk_referral":
            facts.referred = True
        elif rec.type == "SEGMENT" and data.get("stream") == CHECK_STREAM:
            facts.check, facts.check_seq = data, rec.seq
            transcript = [f.path for f in rec.files if f.path.endswith("/speech-check.json")]
            doc = _read_json(opener, session, transcript[0], facts) if transcript else None
            if isinstance(doc, dict) and isinstance(doc.get("segments"), list):
                facts.transcript = [s for s in doc["segments"] if isinstance(s, dict)]
    return facts


def _t(session: SessionData, value: Any, boot: str | None = None) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return "-"
    return escape(session.clock.format(value, 3))


def render_speech(facts: SpeechFacts, session: SessionData) -> str:
    """The HTML section ("" when the session has no answers and no check)."""
    if not facts.answers and facts.check is None:
        return ""
    rows = "".join(
        f"<tr><td>{escape(str(a.get('node', '-')))}</td>"
        f"<td>{escape(str(a.get('party', 'counter')))}</td><td>{escape(str(a.get('attempt')))}"
        f"</td><td>{_t(session, a.get('start_ns'))}</td><td>{_t(session, a.get('end_ns'))}</td>"
        f"<td><b>{escape(str(a.get('meaning', '-')))}</b></td>"
        f"<td>{escape(str(a.get('heard') if a.get('heard') is not None else '(encrypted)'))}"
        f"</td></tr>" for a in facts.answers)
    parts = ["<h2>Answers heard</h2>"]
    parts.append("<table><tr><th>node</th><th>who</th><th>attempt</th><th>window start</th>"
                 f"<th>window end</th><th>meaning</th><th>heard</th></tr>{rows}</table>"
                 if rows else "<p>No answers on the record.</p>")
    parts.append("<h2>Speech check (after the session)</h2>")
    check = facts.check
    if check is None:
        parts.append('<div class="warn">No speech check is on the record (yet): the unit '
                     "checks a session's speech after it, while idle.</div>")
    else:
        verdict = escape(str(check.get("verdict", "-")))
        before = escape(str(check.get("verdict_before", "-")))
        css = "bad" if check.get("verdict") == "review" else "ok"
        parts.append(f'<div class="{css}"><b>Verdict after the check: {verdict}</b> (at the '
                     f"session's end: {before}; record {facts.check_seq})"
                     + ("; <b>referred to risk management</b>" if facts.referred else "")
                     + "</div>")
        findings = [f for f in check.get("findings") or [] if isinstance(f, dict)]
        rows = "".join(
            f"<tr><td>{escape(str(f.get('check')))}</td><td>{escape(str(f.get('detail')))}</td>"
            f"<td>{escape(str(f.get('node') or '-'))}</td><td>{_t(session, f.get('start_ns'))}"
            f"</td><td>{_t(session, f.get('end_ns'))}</td></tr>" for f in findings)
        parts.append("<table><tr><th>finding</th><th>phrase</th><th>node</th><th>start</th>"
                     f"<th>end</th></tr>{rows}</table>" if rows else "<p>No findings.</p>")
        if facts.transcript is not None:
            rows = "".join(
                f"<tr><td>{_t(session, s.get('start_ns'))}</td><td>{_t(session, s.get('end_ns'))}"
                f"</td><td>{escape(str(s.get('voice', '-')))}</td>"
                f"<td>{escape(str(s.get('text', '')))}</td></tr>"
                for s in facts.transcript[:MAX_TRANSCRIPT_ROWS])
            parts.append("<h3>Transcript</h3><table><tr><th>start</th><th>end</th>"
                         f"<th>voice</th><th>text</th></tr>{rows}</table>")
    if facts.notes:
        parts.append('<div class="warn">' + "<br>".join(escape(n) for n in facts.notes)
                     + "</div>")
    return "\n".join(parts)
