"""The 双录 session on the hardware buttons: RECORD starts (consent first), NEXT advances,
REPLAY repeats the prompt, holding RECORD stops. Every press and every refusal is on the chain.

All handling runs on one worker thread (button events are queued to it), which also ticks every
100 ms: prompt completion, photos at the nodes that need them, live analysis, device faults.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from drivers.panel import PanelEvent
from firmware.evidence.store import Evidence
from firmware.unit.recorder import Recorder
from firmware.unit.session.monitor import LiveMonitor
from firmware.unit.session.prompter import Prompter
from firmware.unit.session.quality import NodeOutcome, SessionFacts, check_session
from firmware.unit.session.script import ScriptNode, ScriptTemplate
from firmware.unit.session.selftest import SelfTest

log = logging.getLogger(__name__)

TICK_S = 0.1
PHOTO_DELAY_NS = 1_500_000_000   # after the prompt ends: time to hold the document up


@dataclass
class Binding:
    """What the next session is for: its script, its mode, the people and the policy."""

    template: ScriptTemplate
    mode: str = "av"                        # "av" or "audio_photo"
    application_no: str = ""
    people_json: bytes | None = None        # sealed as people.json (personal data: files only)
    summary: dict[str, Any] = field(default_factory=dict)  # no personal data


@dataclass(frozen=True)
class FlowSnapshot:
    """What the flow is doing, published whole on every change, so readers on other threads
    (status, the fleet agent, the watchdog) see one consistent moment without reaching into
    the flow's working state."""

    state: str = "idle"
    session_id: str | None = None
    node: str | None = None
    template: str | None = None
    mode: str | None = None
    last_summary: dict | None = None


@dataclass
class _Active:
    session_id: str
    binding: Binding
    index: int = 0
    nodes: list[NodeOutcome] = field(default_factory=list)
    refusals: int = 0
    complete: bool = False
    start_press_open: bool = True    # the RECORD press that started it is still held
    photo_due_ns: int | None = None
    clock_synced_start: bool = True
    next_sample_ns: int = 0
    next_disk_ns: int = 0
    next_badge_ns: int = 0
    badge: dict | None = None          # the accepted badge's summary (no personal data)
    refused_badges: set = field(default_factory=set)


class SessionFlow:
    """Drives one session at a time. ``on_session_end(summary)`` and ``on_state(state)`` report
    to the daemon (fleet events, LEDs); the flow knows nothing of MQTT or S3."""

    def __init__(self, evidence: Evidence, recorder: Recorder, panel, prompter: Prompter,
                 selftest: SelfTest, *, on_state: Callable[[str], None] | None = None,
                 on_session_end: Callable[[dict], None] | None = None,
                 can_record: Callable[[], tuple[str, str] | None] | None = None,
                 badge_reader=None,
                 on_progress: Callable[[str, str], None] | None = None) -> None:
        self.evidence = evidence
        self.recorder = recorder
        self.panel = panel
        self.prompter = prompter
        self.selftest = selftest
        self.clock = recorder.clock
        self._on_state = on_state
        self._on_session_end = on_session_end
        self._can_record = can_record
        self._on_progress = on_progress or (lambda _session, _node: None)
        self.badge_reader = badge_reader   # with a roster: the salesperson shows a badge QR
        self.binding: Binding | None = None
        self.active: _Active | None = None
        self.monitor: LiveMonitor | None = None
        self.state = "idle"
        self.last_summary: dict | None = None
        self.snapshot = FlowSnapshot()
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._idle = threading.Event()
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
                    return
                if kind == "bind":
                    self.binding = arg
                    self._publish()
                    self.prompter.prepare([n.prompt for n in arg.template.nodes],
                                          arg.template.words_per_minute)
                    self.prompter.prepare([n.prompt for n in arg.template.nodes],
                                          arg.template.words_per_minute)
                elif kind == "panel":
                    self._on_panel(arg)
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
        node = a.binding.template.nodes[a.index].id if a is not None and not a.complete \
            else None
        self.snapshot = FlowSnapshot(
            self.state, a.session_id if a else None, node,
            (a.binding if a else b).template.id if (a or b) else None,
            (a.binding if a else b).mode if (a or b) else None, self.last_summary)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._publish()
            if self._on_state is not None:
                self._on_state(state)

    def _event(self, kind: str, data: dict) -> None:
        sid = self.active.session_id if self.active else None
        self.evidence.event(kind, data, session_id=sid)

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
                self.prompter.play(node.id, node.prompt, replay=True)

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
        data = {"template": b.template.as_record(), "mode": b.mode, "elder": b.template.elder,
                "application_no": b.application_no, "people": b.summary,
                "selftest": {**result.as_record(), "quick": quick}}
        sid = self.evidence.start_session(data)
        self.active = _Active(sid, b, clock_synced_start=self.clock.sync_state().synced)
        if b.people_json is not None:
            self.evidence.seal_bytes(sid, "people.json", b.people_json, {"stream": "people"})
        self.monitor = LiveMonitor(self.recorder.camera, self.recorder.microphone.rate)
        self.recorder.start(sid, video=b.mode == "av", audio_tap=self.monitor.audio_block)
        self.panel.rec_led("solid")
        self._set_state("recording")
        self._start_node(0)

    def _node(self) -> ScriptNode | None:
        a = self.active
        if a is None or a.complete:
            return None
        return a.binding.template.nodes[a.index]

    def _start_node(self, index: int) -> None:
        a = self.active
        a.index = index
        node = a.binding.template.nodes[index]
        now = self.clock.monotonic_ns()
        a.nodes.append(NodeOutcome(node.id, node.title, node.kind, now))
        a.photo_due_ns = None
        self._on_progress(a.session_id, node.id)
        self._publish()
        log.info("node %d/%d %s: %s", index + 1, len(a.binding.template.nodes), node.id,
                 node.title)
        self._event("node_start", {"node": node.id, "index": index, "title": node.title,
                                   "at_ns": now})
        self.prompter.play(node.id, node.prompt)

    # -- NEXT --------------------------------------------------------------------------------
    def refusal(self, now_ns: int) -> str | None:
        """Why NEXT would be refused now, or None."""
        node, run = self._node(), self.active.nodes[-1]
        if node is None:
            return "script_complete"
        if self.prompter.playing:
            return "prompt_playing"
        if self.recorder.signing:
            return "signing"
        if now_ns - run.start_ns < node.min_seconds * 1e9:
            return "min_duration"
        if "photo" in node.requires and not run.photos:
            return "missing_photo"
        if node.kind == "show_credentials" and self.badge_reader is not None \
                and self.active.badge is None:
            return "missing_badge"
        if "answer" in node.requires and (run.prompt_end_ns is None or now_ns < run.prompt_end_ns
                                          + node.answer_seconds * 1e9):
            return "missing_answer"
        if "signature" in node.requires and not self.recorder.has_signature:
            return "missing_signature"
        return None

    def _next(self, at_ns: int) -> None:
        a = self.active
        reason = self.refusal(self.clock.monotonic_ns())
        if reason is not None:
            a.refusals += 1
            self.panel.signal("refused")
            self._event("next_refused", {"node": a.nodes[-1].id, "reason": reason,
                                         "at_ns": at_ns})
            return
        node, run = self._node(), a.nodes[-1]
        if "signature" in node.requires:
            rec = self.recorder.seal_signature(f"{node.id}-signature", {"node": node.id})
            run.signature = rec.files[0].path if rec else None
        run.end_ns = self.clock.monotonic_ns()
        self._event("node_end", {"node": node.id, "start_ns": run.start_ns,
                                 "end_ns": run.end_ns})
        if a.index + 1 < len(a.binding.template.nodes):
            self._start_node(a.index + 1)
        else:
            a.complete = True
            self._publish()
            self._event("script_complete", {"nodes": len(a.nodes)})

    # -- ticking -----------------------------------------------------------------------------
    def _tick(self) -> None:
        a = self.active
        if a is None:
            return
        if self.recorder.fault is not None:
            self._fault(self.recorder.fault)
            return
        now = self.clock.monotonic_ns()
        self._collect_prompts()
        if a.photo_due_ns is not None and now >= a.photo_due_ns and not a.complete:
            run = a.nodes[-1]
            rec = self.recorder.seal_photo(f"{run.id}-photo-{len(run.photos) + 1}",
                                           {"node": run.id})
            run.photos.append(rec.files[0].path)
            a.photo_due_ns = None
        node = self._node()
        if node is not None and node.kind == "show_credentials" and a.badge is None \
                and self.badge_reader is not None and now >= a.next_badge_ns:
            a.next_badge_ns = now + 1_000_000_000
            self._scan_badge(a)
        if now >= a.next_disk_ns and self._can_record is not None:
            a.next_disk_ns = now + 1_000_000_000
            blocked = self._can_record()
            if blocked is not None and blocked[0] == "storage":
                self._stop_for_disk(blocked[1])
                return
        if now >= a.next_sample_ns and self.monitor is not None:
            self.monitor.sample_video()
            a.next_sample_ns = now + 1_000_000_000
        lost = [d for d, h in self.recorder.health().items() if h == "lost"]
        self.panel.rec_led("blink" if lost else "solid")

    def _scan_badge(self, a: _Active) -> None:
        """One look for the salesperson's badge QR; an accepted badge binds the salesperson
        (``salesperson.json``, sealed); a refused one is on the chain with its reason."""
        import datetime as dt
        wall = dt.datetime.fromtimestamp(self.clock.realtime_ns() / 1e9, dt.timezone.utc)
        try:
            result = self.badge_reader.read_camera(self.recorder.camera, wall.date())
        except Exception as exc:  # the camera is lost: the GAP says so; try again next second
            log.info("badge scan: %s", exc)
            return
        if result.status == "no_code":
            return
        run = a.nodes[-1]
        if not result.ok:
            if result.status not in a.refused_badges:
                a.refused_badges.add(result.status)
                self.panel.signal("refused")
                self._event("badge_refused", {"node": run.id, **result.summary()})
            return
        a.badge = result.summary()
        rec = self.evidence.seal_bytes(
            a.session_id, "salesperson.json",
            json.dumps({"staff_id": result.staff_id, "identity": result.identity.to_dict()},
                       ensure_ascii=False, sort_keys=True).encode("utf-8"),
            {"stream": "people", "node": run.id})
        run.files.append(rec.files[0].path)
        self._event("badge", {"node": run.id, **a.badge})
        self.panel.signal("ok")

    def _collect_prompts(self) -> None:
        """Put every prompt that ended on the chain; a finished node prompt opens its answer
        window and, at nodes that need one, schedules the photo."""
        a = self.active
        for done in self.prompter.collect():
            self._event("prompt", self.prompter.record(done))
            run = a.nodes[-1] if a and a.nodes and a.nodes[-1].id == done.node else None
            if run is None or run.end_ns is not None or not done.playback.completed:
                continue
            run.prompt_end_ns = done.playback.ended_ns
            node = a.binding.template.nodes[a.index]
            if "photo" in node.requires:
                a.photo_due_ns = run.prompt_end_ns + PHOTO_DELAY_NS

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
        gaps = self.recorder.gaps()
        facts = SessionFacts(
            template=a.binding.template, nodes=a.nodes, video=self.monitor.video,
            voiced=self.monitor.voiced_fraction, gaps=gaps,
            segments=self.recorder.segment_spans, frame_ns=self.recorder.frame_ns,
            clock_synced_start=a.clock_synced_start,
            clock_synced_end=self.clock.sync_state().synced, mode=a.binding.mode)
        findings = check_session(facts)
        self.evidence.seal_bytes(a.session_id, "analysis.json", self.monitor.to_json(),
                                 {"stream": "analysis"})
        verdict = "pass" if not findings else "review"
        data = {"reason": why, "nodes": [n.as_record() for n in a.nodes],
                "script_complete": a.complete, "refusals": a.refusals,
                "stats": stats.as_dict(), "clock": self.clock.sync_state().as_record(),
                "quality": {"verdict": verdict,
                            "findings": [f.as_record() for f in findings]}}
        record = self.evidence.end_session(a.session_id, data)
        summary = {"session_id": a.session_id, "verdict": verdict,
                   "findings": [f.check for f in findings], "refusals": a.refusals,
                   "script_complete": a.complete, "stats": stats.as_dict(),
                   "end_seq": record.seq, "template": a.binding.template.id}
        log.info("session %s ended (%s): verdict %s, %d refusals", a.session_id, why, verdict,
                 a.refusals)
        self.active = None
        self.monitor = None
        self._on_progress("", "")
        self.last_summary = summary
        self.panel.rec_led("off")
        self._set_state("idle")
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
