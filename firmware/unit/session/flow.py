"""The 双录 session on the hardware buttons: RECORD starts (consent first), NEXT advances,
REPLAY repeats the prompt, holding RECORD stops. Every press and every refusal is on the chain.

All handling runs on one worker thread (button events are queued to it), which also ticks every
100 ms. The flow runs the script — nodes, prompts, NEXT, the end — and hands everything else to
its :class:`~firmware.unit.session.parts.SessionPart` s (photos, the staff badge, live
analysis, answers, documents, the customer's screen), in the order given.
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable

from drivers.audio import AudioBlock
from drivers.panel import PanelEvent
from firmware.evidence.store import Evidence
from firmware.unit.recorder import Recorder
from firmware.unit.session.binding import Binding, FlowSnapshot
from firmware.unit.session.node_duties import (NodeDuties, node_duties, session_people,
                                               shows_documents)
from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.prompter import Prompter
from firmware.unit.session.quality import NodeOutcome, check_session
from firmware.unit.session.remote_parties import REMOTE_PARTIES
from firmware.unit.session.script import ScriptNode
from firmware.unit.session.selftest import SelfTest
from firmware.unit.session.session_end import SessionEnd

log = logging.getLogger(__name__)

TICK_S = 0.1

__all__ = ["Binding", "FlowSnapshot", "SessionFlow"]


@dataclass
class _Active:
    ctx: SessionContext
    index: int = 0
    refusals: int = 0
    complete: bool = False
    start_press_open: bool = True    # the RECORD press that started it is still held
    clock_synced_start: bool = True
    next_disk_ns: int = 0
    refusal_log: list[dict] = field(default_factory=list)

    @property
    def session_id(self) -> str:
        return self.ctx.session_id

    @property
    def binding(self) -> Binding:
        return self.ctx.binding

    @property
    def nodes(self) -> list[NodeOutcome]:
        return self.ctx.nodes


class _PenFanout:
    """The pad's samples, on the pad's thread, to the parts that follow the pen."""

    def __init__(self, parts: list[SessionPart]) -> None:
        self._samples = [p.pen_sample for p in parts if hasattr(p, "pen_sample")]
        self._ends = [p.stroke_ended for p in parts if hasattr(p, "stroke_ended")]

    def pen_sample(self, sample) -> None:
        for fn in self._samples:
            fn(sample)

    def stroke_ended(self, timestamp_ns: int) -> None:
        for fn in self._ends:
            fn(timestamp_ns)


class SessionFlow:
    """Drives one session at a time. ``on_session_end(summary)``, ``on_state(state)`` and
    ``on_progress(session, node)`` report to the daemon; the flow knows nothing of MQTT or S3."""

    def __init__(self, evidence: Evidence, recorder: Recorder, panel, prompter: Prompter,
                 selftest: SelfTest, *, parts: list[SessionPart] = (),
                 on_state: Callable[[str], None] | None = None,
                 on_session_end: Callable[[dict], None] | None = None,
                 can_record: Callable[[], tuple[str, str] | None] | None = None,
                 on_progress: Callable[[str, str], None] | None = None,
                 before_start: Callable[[Binding], Binding | tuple[str, str]] | None = None
                 ) -> None:
        self.evidence = evidence
        self.recorder = recorder
        self.panel = panel
        self.prompter = prompter
        self.selftest = selftest
        self.parts = list(parts)
        self.clock = recorder.clock
        self._on_state = on_state
        self._on_session_end = on_session_end
        self._can_record = can_record
        self._before_start = before_start
        self._on_progress = on_progress or (lambda _session, _node: None)
        self.binding: Binding | None = None
        self.active: _Active | None = None
        self.state = "idle"
        self.last_summary: dict | None = None
        self.snapshot = FlowSnapshot()
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="session-flow", daemon=True)
        self._thread.start()

    # -- inputs ------------------------------------------------------------------------------
    def bind(self, binding: Binding) -> None:
        """Set what the next RECORD records (the template, mode, people, policy)."""
        self._queue.put(("bind", binding))

    def request_selftest(self) -> None:
        """Run the self-test on the flow thread when no session is recording."""
        self._queue.put(("selftest", None))

    def handle(self, event: PanelEvent) -> None:
        """A panel event (called from gpiozero's thread): queued for the flow thread."""
        self._queue.put(("panel", event))

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the flow's thread (parts' slow work comes back this way)."""
        self._queue.put(("call", fn))

    @property
    def alive(self) -> bool:
        """The flow's worker thread runs (the watchdog starves when it does not)."""
        return self._thread.is_alive()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every queued input has been handled."""
        done = threading.Event()
        self._queue.put(("sync", done))
        return done.wait(timeout)

    def close(self) -> None:
        """Stop the flow; a session still open is ended cleanly first. Safe twice."""
        if not self._thread.is_alive():
            return
        self._queue.put(("close", None))
        self._thread.join()

    # -- the worker --------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                kind, arg = self._queue.get(timeout=TICK_S)
            except queue.Empty:
                kind, arg = "tick", None
            try:
                if kind == "close":
                    if self.active is not None:
                        self._finish("daemon stopping")
                    for part in self.parts:
                        part.close()
                    return
                if kind == "bind":
                    self.binding = arg
                    self._publish()
                    self.prompter.prepare(arg.all_prompts(), arg.template.words_per_minute)
                elif kind == "panel":
                    self._on_panel(arg)
                elif kind == "call":
                    arg()
                elif kind == "selftest" and self.active is None:
                    self._selftest()
                self._tick()
            except Exception as exc:  # the flow must outlive one bad event; it says so
                log.exception("session flow: %s failed", kind)
                self._fault(exc)
            finally:
                if kind == "sync":
                    arg.set()  # after the tick: what has ended is on the chain

    def _publish(self) -> None:
        a, b = self.active, self.binding
        bound = a.binding if a is not None else b
        node = a.binding.template.nodes[a.index].id if a is not None and not a.complete \
            else None
        self.snapshot = FlowSnapshot(
            self.state, a.session_id if a else None, node,
            bound.template.id if bound else None, bound.mode if bound else None,
            self.last_summary, a.index if a is not None else None,
            len(bound.template.nodes) if bound else None)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._publish()
            if self._on_state is not None:
                self._on_state(state)

    def _event(self, kind: str, data: dict):
        sid = self.active.session_id if self.active else None
        return self.evidence.event(kind, data, session_id=sid)

    def _on_panel(self, ev: PanelEvent) -> None:
        if self.active is not None:
            self._collect_prompts()  # a prompt that just ended is on the chain before the press
        if ev.kind == "release":
            if ev.button == "RECORD" and self.active is not None:
                self.active.start_press_open = False
            return
        self._event("press", {"button": ev.button, "gesture": ev.kind, "at_ns": ev.timestamp_ns})
        if self.active is None:
            if ev.button == "RECORD" and ev.kind == "press":
                self._start()
            return
        if ev.button == "RECORD" and ev.kind == "hold" and not self.active.start_press_open:
            self._finish("stopped by RECORD held")
        elif ev.button == "NEXT" and ev.kind == "press":
            self._next(ev.timestamp_ns)
        elif ev.button == "REPLAY" and ev.kind == "press":
            node = self._node()
            if node is not None:
                run = self.active.nodes[-1]
                for part in self.parts:
                    part.replayed(self.active.ctx, node, run)
                play = self.prompter.play(node.id, self.active.binding.prompt(node), replay=True)
                for part in self.parts:
                    part.prompt_started(self.active.ctx, node, run, play)

    def _selftest(self) -> None:
        result = self.selftest.run()
        self._event("selftest", result.as_record())
        if not result.ok:
            self.panel.signal("selftest_failed")
            log.warning("self-test failed: %s", ", ".join(result.failed))
        if self.state in ("idle", "selftest_failed"):
            self._set_state("idle" if result.ok else "selftest_failed")

    # -- starting ----------------------------------------------------------------------------
    def _refuse_start(self, reason: str, detail: dict) -> None:
        self.panel.signal("selftest_failed")
        self._event("record_refused", {"reason": reason, **detail})
        log.warning("RECORD refused: %s %s", reason, detail)

    def _start(self) -> None:
        if self.binding is None:
            self._refuse_start("no_script", {"detail": "no script template is bound"})
            return
        blocked = self._can_record() if self._can_record else None
        if blocked:
            self._refuse_start(blocked[0], {"detail": blocked[1]})
            return
        result = self.selftest.last
        quick = self.selftest.quick_checks()
        if result is None or not result.ok:  # a failed test is run again: someone fixed it?
            self._selftest()
            result = self.selftest.last
        failed = result.failed + [k for k, c in quick.items() if not c["ok"] and c["blocking"]]
        if failed:
            self._refuse_start("selftest", {"failed": sorted(set(failed)),
                                            "selftest": result.as_record()})
            return
        b = self.binding
        if self._before_start is not None:   # e.g. the sale's ticket shown to the camera
            got = self._before_start(b)
            if isinstance(got, tuple):
                self._refuse_start(got[0], {"detail": got[1]})
                return
            if got is not b:   # the policy's facts: render its prompts now, ahead of the nodes
                self.prompter.prepare(got.all_prompts(), got.template.words_per_minute)
            b = self.binding = got
        data = {"template": b.template.as_record(), "mode": b.mode, "elder": b.template.elder,
                "application_no": b.application_no, "people": b.summary,
                "selftest": {**result.as_record(), "quick": quick}}
        if b.ticket is not None:
            data["ticket"] = b.ticket
        sid = self.evidence.start_session(data)
        ctx = SessionContext(
            sid, b, event=lambda kind, d: self.evidence.event(kind, d, session_id=sid),
            seal=lambda name, content, d: self.evidence.seal_bytes(sid, name, content, d),
            post=self.post, signal=self.panel.signal, now_ns=self.clock.monotonic_ns,
            wall_ns=self.clock.realtime_ns)
        self.active = _Active(ctx, clock_synced_start=self.clock.sync_state().synced)
        if b.people_json is not None:
            ctx.seal("people.json", b.people_json, {"stream": "people"})
        if b.script_json is not None:
            ctx.seal("script.json", b.script_json, {"stream": "script"})
        self.recorder.start(sid, video=b.mode == "av", audio_tap=self._audio_tap,
                            pen_tap=_PenFanout(self.parts))
        for part in self.parts:
            part.session_started(ctx)
        self.panel.rec_led("solid")
        self._set_state("recording")
        self._start_node(0)

    def _audio_tap(self, block: AudioBlock) -> None:
        """Every audio block, on the microphone's thread, to the parts that listen."""
        for part in self.parts:
            listen = getattr(part, "audio_block", None)
            if listen is not None:
                listen(block)

    def _node(self) -> ScriptNode | None:
        a = self.active
        if a is None or a.complete:
            return None
        return a.binding.template.nodes[a.index]

    def _duties(self, node: ScriptNode) -> NodeDuties:
        """Who must sign and read at ``node``, and where (the parties admitted so far)."""
        ctx = self.active.ctx
        remote = ctx.values.get(REMOTE_PARTIES)
        parties = {s.party: s.seats for s in remote.admitted()} if remote is not None else {}
        return node_duties(node, session_people(ctx), parties,
                           reads=shows_documents(node, ctx.binding.documents))

    def _start_node(self, index: int) -> None:
        a = self.active
        a.index = index
        node = a.binding.template.nodes[index]
        now = self.clock.monotonic_ns()
        run = NodeOutcome(node.id, node.title, node.kind, now)
        self.prompter.due()
        a.nodes.append(run)
        self._on_progress(a.session_id, node.id)
        self._publish()
        log.info("node %d/%d %s: %s", index + 1, len(a.binding.template.nodes), node.id,
                 node.title)
        self._event("node_start", {"node": node.id, "index": index, "title": node.title,
                                   "at_ns": now, **self._duties(node).as_record()})
        for part in self.parts:
            part.node_started(a.ctx, node, run)
        play = self.prompter.play(node.id, a.binding.prompt(node))
        for part in self.parts:
            part.prompt_started(a.ctx, node, run, play)

    # -- NEXT --------------------------------------------------------------------------------
    def refusal(self, now_ns: int) -> str | None:
        """Why NEXT would be refused now, or None."""
        node = self._node()
        if node is None:
            return "script_complete"
        run = self.active.nodes[-1]
        if self.prompter.playing:
            return "prompt_playing"
        if self.recorder.signing:
            return "signing"
        if now_ns - run.start_ns < node.min_seconds * 1e9:
            return "min_duration"
        for part in self.parts:
            reason = part.refusal(self.active.ctx, node, run, now_ns)
            if reason is not None:
                return reason
        if self._duties(node).counter_signs and not self.recorder.has_signature:
            return "missing_signature"          # someone who signs here is at the counter
        return None

    def _next(self, at_ns: int) -> None:
        a = self.active
        reason = self.refusal(self.clock.monotonic_ns())
        node = self._node()
        if reason is not None:
            a.refusals += 1
            self.panel.signal("refused")
            self._event("next_refused", {"node": a.nodes[-1].id, "reason": reason,
                                         "at_ns": at_ns})
            if node is not None:
                for part in self.parts:
                    part.refused(a.ctx, node, reason)
            return
        run = a.nodes[-1]
        duties = self._duties(node)
        if "signature" in node.requires:   # what the pad holds is sealed, required or not
            rec = self.recorder.seal_signature(f"{node.id}-signature", {"node": node.id})
            run.signature = rec.files[0].path if rec else None
        for part in self.parts:
            part.node_ending(a.ctx, node, run)
        run.end_ns = self.clock.monotonic_ns()
        self._event("node_end", {"node": node.id, "start_ns": run.start_ns,
                                 "end_ns": run.end_ns, **duties.as_record()})
        if a.index + 1 < len(a.binding.template.nodes):
            self._start_node(a.index + 1)
        else:
            a.complete = True
            self._publish()
            self._event("script_complete", {"nodes": len(a.nodes)})

    # -- ticking -----------------------------------------------------------------------------
    def _tick(self) -> None:
        a = self.active
        now = self.clock.monotonic_ns()
        if a is None:
            for part in self.parts:
                part.idle(now)
            return
        if self.recorder.fault is not None:
            self._fault(self.recorder.fault)
            return
        self._collect_prompts()
        if now >= a.next_disk_ns and self._can_record is not None:
            a.next_disk_ns = now + 1_000_000_000
            blocked = self._can_record()
            if blocked is not None and blocked[0] == "storage":
                self._stop_for_disk(blocked[1])
                return
        node = self._node()
        for part in self.parts:
            part.tick(a.ctx, node, now)
        lost = [d for d, h in self.recorder.health().items() if h == "lost"]
        self.panel.rec_led("blink" if lost else "solid")

    def _collect_prompts(self) -> None:
        """Put every prompt that ended on the chain; a node's prompt that finished is handed
        to the parts (answer windows, photos)."""
        a = self.active
        for done in self.prompter.collect():
            self._event("prompt", self.prompter.record(done))
            run = a.nodes[-1] if a and a.nodes and a.nodes[-1].id == done.node else None
            if run is None or run.end_ns is not None or not done.playback.completed:
                continue
            run.prompt_end_ns = done.playback.ended_ns
            node = a.binding.template.nodes[a.index]
            for part in self.parts:
                part.prompt_ended(a.ctx, node, run, done)

    def _stop_for_disk(self, detail: str) -> None:
        """Free space fell below the reserve during the session: end it cleanly now, while
        the reserve still holds its SESSION_END, rather than fail mid-write later."""
        log.error("stopping session %s: %s", self.active.session_id, detail)
        self.panel.signal("refused")
        self._event("disk_low", {"detail": detail, "node": self.active.nodes[-1].id
                                 if self.active.nodes else None})
        self._finish("disk_low")

    # -- finishing ---------------------------------------------------------------------------
    def _finish(self, why: str) -> None:
        a = self.active
        self.prompter.stop()
        self._collect_prompts()
        if a.nodes and a.nodes[-1].end_ns is None and not a.complete:
            self._event("node_abandoned", {"node": a.nodes[-1].id, "reason": why})
        stats = self.recorder.stop()
        for part in self.parts:
            part.session_ending(a.ctx)
        end = SessionEnd(a.ctx, self.recorder, self.clock, why=why, complete=a.complete,
                         refusals=a.refusals, clock_synced_start=a.clock_synced_start)
        findings = check_session(end.facts()) + [f for part in self.parts
                                                 for f in part.findings(a.ctx)]
        record, summary = end.close(self.evidence, stats, findings)
        log.info("session %s ended (%s): verdict %s, %d refusals", a.session_id, why,
                 summary["verdict"], a.refusals)
        self.active = None
        self._on_progress("", "")
        self.last_summary = summary
        self.panel.rec_led("off")
        self._set_state("idle")
        for part in self.parts:
            part.session_ended(a.ctx, summary)
        if self._on_session_end is not None:
            self._on_session_end(summary)

    def _fault(self, exc: BaseException) -> None:
        self.panel.signal("fault")
        self._set_state("fault")
        if self.active is not None:
            a, self.active = self.active, None
            self._on_progress("", "")
            try:
                self.recorder.stop()
                self.evidence.end_session(a.session_id, {"reason": f"fault: {exc}",
                                                         "complete": False})
            except Exception as again:  # the next start's recovery closes it
                log.error("could not close session %s after a fault: %s", a.session_id, again)
