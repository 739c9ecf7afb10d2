"""The check's results sealed as new signed records about the closed session
(docs/evidence-format.md, section 4: records about a session after its SESSION_END are allowed;
their files are covered by the chain but not part of the manifest).

- SEGMENT ``stream: "speech_check"`` sealing ``speech-check.json`` (the transcript and the
  findings: personal data, so encrypted to the insurer with a fresh key whose wrapped form is
  sealed beside it as ``speech-check-key.json``, docs/encryption.md section 7) — its ``data``
  holds the findings (phrases from configuration, times; no personal data), the session's
  verdict after the check and what audio was checked;
- EVENT ``risk_referral`` when a misleading statement was found: the session goes to risk
  management (the fleet agent forwards it).

The session key was forgotten at SESSION_END, so these files are sealed with
:meth:`~firmware.evidence.store.Evidence.seal_after_end` under a key of their own.
"""
from __future__ import annotations

import json
from typing import Any

from firmware.evidence.crypto import SessionKey, session_key_json, wrap
from firmware.evidence.records import Record
from firmware.evidence.store import Evidence
from firmware.unit.speech_check.findings import Finding
from firmware.unit.speech_check.session_records import STREAM, SessionRecords

TRANSCRIPT_FILE = "speech-check.json"
KEY_FILE = "speech-check-key.json"
FORMAT = "dualrec-speech-check"


def seal_check(evidence: Evidence, session: SessionRecords, *, segments: list[list],
               findings: list[Finding], audio: dict[str, Any], transcribed: dict[str, Any],
               job: dict[str, Any]) -> Record:
    """The check's SEGMENT (and a ``risk_referral`` EVENT for a misleading statement)."""
    verdict_before = session.verdict or "pass"
    verdict = "review" if findings or verdict_before != "pass" else "pass"
    as_records = [f.as_record() for f in findings]
    transcript = {"format": FORMAT, "version": 1, "session": session.session_id,
                  "segments": [{"start_ns": s[0], "end_ns": s[1], "voice": s[2], "text": s[3]}
                               for s in segments],
                  "findings": as_records}
    content = (json.dumps(transcript, ensure_ascii=False, sort_keys=True, indent=1)
               + "\n").encode("utf-8")
    files: list[tuple[str, bytes, SessionKey | None]] = []
    key = None
    data: dict[str, Any] = {
        "stream": STREAM, "verdict": verdict, "verdict_before": verdict_before,
        "findings": as_records, "audio": audio, "transcribed": transcribed,
        "template": job.get("template"), "phrases": {
            "forbidden": list(job.get("forbidden") or []),
            "required": job.get("required") or {}, "salesperson": job.get("salesperson") or {}}}
    if evidence.insurer_key is not None:
        key = SessionKey.generate()
        files.append((KEY_FILE, session_key_json(wrap(key, evidence.insurer_key)), None))
        data["key_id"] = key.key_id_hex
    files.append((TRANSCRIPT_FILE, content, key))
    try:
        if not session.ended:
            raise ValueError(f"session {session.session_id} is not closed")
        record = evidence.seal_after_end(session.session_id, files, data,
                                         covered=session.covered)
    finally:
        if key is not None:
            key.forget()
    misleading = [f for f in as_records if f["check"] == "misleading_statement"]
    if misleading:
        evidence.event("risk_referral", {
            "reason": "misleading_statement", "verdict": verdict, "check_seq": record.seq,
            "phrases": sorted({f["detail"] for f in misleading}), "findings": misleading},
            session_id=session.session_id)
    return record
