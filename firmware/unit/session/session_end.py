"""The end of a session: the quality checks' facts, the verdict, the SESSION_END record and the
summary the daemon reports."""
from __future__ import annotations

from drivers.clock import Clock
from firmware.evidence.records import Record
from firmware.evidence.store import Evidence
from firmware.unit.recorder import Recorder
from firmware.unit.recorder.recorder import RecorderStats
from firmware.unit.session.node_duties import session_people
from firmware.unit.session.parts import SessionContext
from firmware.unit.session.quality import QualityFinding, SessionFacts

#: Parts leave what the checks need in ``SessionContext.values`` under these names.
VIDEO_SAMPLES = "video_samples"      # list of {"t", "faces", "brightness"}
VOICED = "voiced"                    # voiced_fraction(start_ns, end_ns) -> float | None
UNDERSTOOD = "understood_answers"    # set of nodes whose answer was understood as a clear yes


class SessionEnd:
    def __init__(self, ctx: SessionContext, recorder: Recorder, clock: Clock, *, why: str,
                 complete: bool, refusals: int, clock_synced_start: bool) -> None:
        self.ctx = ctx
        self.recorder = recorder
        self.clock = clock
        self.why = why
        self.complete = complete
        self.refusals = refusals
        self.clock_synced_start = clock_synced_start

    def facts(self) -> SessionFacts:
        b = self.ctx.binding
        return SessionFacts(
            template=b.template, nodes=self.ctx.nodes,
            video=self.ctx.values.get(VIDEO_SAMPLES, []),
            voiced=self.ctx.values.get(VOICED, lambda _start, _end: None),
            gaps=self.recorder.gaps(), segments=self.recorder.segment_spans,
            frame_ns=self.recorder.frame_ns, clock_synced_start=self.clock_synced_start,
            clock_synced_end=self.clock.sync_state().synced, mode=b.mode,
            understood=frozenset(self.ctx.values.get(UNDERSTOOD, ())),
            people=session_people(self.ctx))

    def close(self, evidence: Evidence, stats: RecorderStats,
              findings: list[QualityFinding]) -> tuple[Record, dict]:
        """SESSION_END with the nodes, the recorder's counts and the verdict; the summary."""
        ctx = self.ctx
        verdict = "pass" if not findings else "review"
        data = {"reason": self.why, "nodes": [n.as_record() for n in ctx.nodes],
                "script_complete": self.complete, "refusals": self.refusals,
                "stats": stats.as_dict(), "clock": self.clock.sync_state().as_record(),
                "quality": {"verdict": verdict,
                            "findings": [f.as_record() for f in findings]}}
        record = evidence.end_session(ctx.session_id, data)
        summary = {"session_id": ctx.session_id, "verdict": verdict,
                   "findings": [f.check for f in findings], "refusals": self.refusals,
                   "script_complete": self.complete, "stats": stats.as_dict(),
                   "end_seq": record.seq, "template": ctx.binding.template.id}
        if ctx.binding.ticket is not None:
            summary["application_hash"] = ctx.binding.ticket.get("application_hash")
        return record, summary
