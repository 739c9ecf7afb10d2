"""What a demo session came to, read back from its evidence the way a reviewer would (the
insurer's key opens what the customer was heard to say): the verdict, the findings with their
nodes, the refused NEXTs and the answers."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware.office.export.media import media_opener
from firmware.office.export.session_data import load_session
from firmware.office.export.speech import read_speech


def demo_outcome(session_dir: Path, insurer_key: Path, report) -> dict[str, Any]:
    """``{session_id, verified, verdict, findings, refusals, answers, referred}``: the verdict
    is the speech check's when the session was checked (it can only make it stricter)."""
    session = load_session(session_dir)
    opener = media_opener(insurer_key)
    try:
        speech = read_speech(session, opener)
    finally:
        close = getattr(opener, "close", None)
        if close is not None:
            close()
    end = session.end.data if session.end else {}
    quality = end.get("quality") or {}
    findings = [{"check": f.get("check"), "node": f.get("node"), "detail": f.get("detail")}
                for f in quality.get("findings") or []]
    verdict = quality.get("verdict")
    if speech.check is not None:
        verdict = speech.check.get("verdict", verdict)
        findings += [{"check": f.get("check"), "node": f.get("node"),
                      "detail": f.get("detail")} for f in speech.check.get("findings") or []]
    refusals = [{"node": r.data.get("node"), "reason": r.data.get("reason")}
                for r in session.records
                if r.type == "EVENT" and r.data.get("kind") == "next_refused"]
    answers = [{"node": a.get("node"), "party": a.get("party", "counter"),
                "attempt": a.get("attempt"), "heard": a.get("heard"),
                "meaning": a.get("meaning")} for a in speech.answers]
    return {"session_id": session.session_id, "verified": bool(report.ok), "verdict": verdict,
            "findings": findings, "refusals": refusals, "answers": answers,
            "referred": speech.referred}


def format_understanding(outcome: dict[str, Any]) -> str:
    """The outcome's answers, refusals and findings as lines for the demo's summary."""
    lines = ["answers     " + ("; ".join(f"{a['node']} #{a['attempt']}"
                                         + ("" if a["party"] == "counter" else f" {a['party']}")
                                         + f": {a['heard'] or '…'} ({a['meaning']})"
                                         for a in outcome["answers"])
                               or "none")]
    lines.append("refused     " + (", ".join(f"{r['node']}: {r['reason']}"
                                           for r in outcome["refusals"]) or "none"))
    lines.append("findings    " + ("; ".join(f"{f['check']} at {f['node'] or '-'}"
                                             + (f" ({f['detail']})" if f["detail"] else "")
                                             for f in outcome["findings"]) or "none"))
    lines.append(f"verdict     {outcome['verdict']}"
                 + (" — referred to risk management" if outcome["referred"] else ""))
    return "\n".join(lines)
