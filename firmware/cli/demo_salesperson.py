"""The demo's salesperson and customer: they press the buttons, hold up the ticket, the ID card
and the 投保单, answer the unit's questions and sign, the way people at a counter do — reacting
to what the unit does (its records, as they become durable), never to a timer.

Without a :class:`~firmware.cli.demo_scenarios.Scenario` the salesperson only presses buttons
(the microphone hears voice-like noise): a session for a unit that checks answers as a sound.
With one, the people speak with voices of their own, mixed into the simulated microphone.

When some of the sale's customers are remote (``dualrec demo --remote``), they answer from
their own phone (:mod:`firmware.cli.demo_remote_call`); the salesperson waits for every answer
the unit waits for, and presses REPLAY when the unit says a party joined after the question
(``answer_not_asked``) or when anyone's answer was not a clear yes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from typing import Any, Callable

from drivers.sigpad import load_events
from firmware.cli.demo_counter import CounterCamera, CounterVoices
from firmware.cli.demo_scenarios import CUSTOMER_VOICE, SALESPERSON_VOICE, Scenario, lines_of
from firmware.evidence.records import Record
from firmware.unit.appliance import Appliance
from firmware.unit.hardware import SAMPLE_SIGNATURE, models_dir, shared_speech_cache
from firmware.unit.session.answers import NOTICE, customers_all_remote

NS = 1_000_000_000
MAX_ATTEMPTS = 4        # a customer asked more often than this gives up (the demo fails)
ANSWER_PAUSE_NS = 400_000_000  # the customer draws breath after the question
WAIT_S = 300.0          # the longest anything at the counter is waited for (wall seconds)


class ChainWatch:
    """The unit's records as they are written (an appliance record listener)."""

    def __init__(self) -> None:
        self._records: list[Record] = []
        self._cond = threading.Condition()

    def __call__(self, record: Record) -> None:
        with self._cond:
            self._records.append(record)
            self._cond.notify_all()

    def events(self, kind: str, **match: Any) -> list[dict]:
        with self._cond:
            return [r.data for r in self._records if r.type == "EVENT"
                    and r.data.get("kind") == kind
                    and all(r.data.get(k) == v for k, v in match.items())]

    def records(self, type_: str, session: str | None = None) -> list[Record]:
        with self._cond:
            return [r for r in self._records
                    if r.type == type_ and (session is None or r.session == session)]

    def wait(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
        """``predicate()``'s first true value, checked at each new record."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the demo waited {timeout:.0f} s for {what}")
                self._cond.wait(min(left, 0.5))


class ScriptedSalesperson:
    """Runs one session at the simulated counter. ``ticket_qr`` (a BGR picture) is held up at
    RECORD; ``scenario`` says what the people say and show (None: buttons only)."""

    def __init__(self, appliance: Appliance, say=print, ticket_qr=None,
                 scenario: Scenario | None = None) -> None:
        self.ticket_qr = ticket_qr
        self.app = appliance
        self.panel = appliance.hardware.panel
        self.flow = appliance.flow
        self.say = say
        self.scenario = scenario
        self.watch = ChainWatch()
        appliance.add_record_listener(self.watch)
        self.voices: CounterVoices | None = None
        self.camera: CounterCamera | None = None
        self._notice_sha = hashlib.sha256(NOTICE.encode("utf-8")).hexdigest()
        self._away_done = False

    def _wait(self, predicate, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the session flow did not get there (state "
                                   f"{self.flow.state})")
            time.sleep(0.05)

    # -- the session -------------------------------------------------------------------------
    def run(self) -> dict:
        flow, hw = self.flow, self.app.hardware
        self._counter()
        self._wait(lambda: self.app.selftest.last is not None)
        self.flow.wait_idle(30)
        self.flow.prompter.wait_prepared(900)   # the voice renders ahead: no node waits
        if self.ticket_qr is not None:
            self.say("  the salesperson holds the sale's 双录二维码 up to the camera")
            hw.camera.show_image(self.ticket_qr)
        self.say("  RECORD pressed")
        self.panel.press("RECORD", 0.15)
        self._wait(lambda: flow.active is not None)
        self._people()
        if self.ticket_qr is not None:
            self.flow.prompter.wait_prepared(900)   # the policy's facts, rendered at binding
        sid = flow.active.session_id
        early = True
        for node in flow.active.binding.template.nodes:
            self._wait(lambda: bool(flow.active.nodes) and flow.active.nodes[-1].id == node.id)
            self.say(f"  node {node.id}: {node.title}")
            if early:  # too soon: the prompt is still playing, so NEXT is refused
                time.sleep(0.3)
                self.panel.press("NEXT", 0.1)
                early = False
            if self.scenario is not None:
                self._act(sid, node)
            if "signature" in node.requires:
                self._wait(lambda: not self.app.prompter_playing())
                _info, events = load_events(SAMPLE_SIGNATURE)
                hw.pad.play(events, wait=True)
                self.say("  the customer signs on the pad")
            self._wait(lambda: flow.refusal(self.app.clock.monotonic_ns()) is None,
                       timeout=WAIT_S)
            self.panel.press("NEXT", 0.1)
        self._wait(lambda: flow.active is not None and flow.active.complete)
        self.say("  RECORD held to stop")
        done = threading.Event()
        self.app.add_session_listener(lambda summary: done.set())
        self.panel.press("RECORD", self.app.config.panel.hold_seconds + 0.4)
        if not done.wait(60):
            raise TimeoutError(f"session {sid} did not end")
        return flow.last_summary

    def close(self) -> None:
        if self.voices is not None:
            self.voices.close()

    # -- the people ----------------------------------------------------------------------------
    def _counter(self) -> None:
        """The room before RECORD: who is there, what they will say (rendered ahead)."""
        hw = self.app.hardware
        if self.scenario is None:
            hw.camera.set_scene("face")
            hw.microphone.set_source("speech")
            return
        from drivers.camera.documents import sample_application_form, sample_id_card
        hw.microphone.set_source("tone", freq=50, amplitude=0.001)   # a quiet room
        card = sample_id_card()
        if self.scenario.card_number is not None:
            card = dataclasses.replace(card, number=self.scenario.card_number)
        self.camera = CounterCamera(hw.camera, card=card, form=sample_application_form())
        self.camera.people()
        self.voices = CounterVoices(models_dir(self.app.config), shared_speech_cache(),
                                    hw.microphone)
        self.voices.render(lines_of(self.scenario, self._asked()))

    def _asked(self) -> list[tuple[str, str]]:
        """Each answer node of the templates: its kind and prompt (the facts unfilled)."""
        return [(n.kind, n.prompt) for t in self.app.templates.values() for n in t.nodes
                if "answer" in n.requires]

    def _people(self) -> None:
        if self.camera is not None:
            self.camera.people()
        else:
            self.app.hardware.camera.set_scene("face")

    def _own_prompts(self, node: str) -> int:
        return len([e for e in self.watch.events("prompt", node=node)
                    if e["text_sha256"] != self._notice_sha and e["completed"]])

    def _act(self, sid: str, node) -> None:
        """What the people do at ``node`` once its prompt has played."""
        self.watch.wait(lambda: self._own_prompts(node.id) >= 1, f"the prompt of {node.id}")
        if node.kind in ("show_id", "documents"):
            self._show(node)
        says = self.scenario.says.get(node.kind)
        if says:
            self.say(f"  the salesperson says: {says}")
            self._until(self.voices.say(SALESPERSON_VOICE, says))
        if node.kind == "statement" and self.scenario.away_s and not self._away_done:
            self._away_done = True
            self.say(f"  the customer walks away for {self.scenario.away_s:g} s")
            self.camera.customer_gone()
            self._until(self.app.clock.monotonic_ns() + int(self.scenario.away_s * NS))
            self.camera.people()
            self.say("  the customer is back")
        if "answer" in node.requires:
            self._answer(node)

    def _show(self, node) -> None:
        """The card or the 投保单 held to the lens until the unit has photographed it."""
        run = self.flow.active.nodes[-1]
        if node.kind == "show_id":
            self.say("  the customer holds the ID card up")
            self.camera.id_card()
        else:
            self.say("  the salesperson holds the 投保单 up")
            number = self.flow.active.binding.application_no
            if number and number != self.camera.form.application_no:   # this sale's form
                self.camera.form = dataclasses.replace(self.camera.form, application_no=number)
            self.camera.application_form()
        self._wait(lambda: bool(run.photos), timeout=WAIT_S)
        self.camera.people()

    def _answer(self, node) -> None:
        """The customer at the counter answers (when the sale has one there) and the remote
        parties from their phones; a refused answer is explained and asked again (REPLAY), and
        so is a question a remote party joined after (``answer_not_asked``)."""
        notices = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if self._counter_answers():
                line = self.scenario.answer(node.kind, attempt, node.prompt)
                self._until(self.app.clock.monotonic_ns() + ANSWER_PAUSE_NS)
                self.say(f"  the customer answers: {line}")
                self.voices.say(CUSTOMER_VOICE, line)
                answer = self.watch.wait(lambda: self._answers(node.id, attempt, "counter"),
                                         f"the answer at {node.id}")[0]
                self.say(f"  the unit understood: {answer['meaning']}")
            reason = self.watch.wait(lambda: self._settled(node),
                                     f"every answer at {node.id}")
            if reason == "yes":
                return
            if reason != "answer_not_asked":       # the unit tells the salesperson first
                notices += 1
                self.watch.wait(lambda: self._notices(node.id) >= notices, "the unit's notice")
            refused = len(self._answer_refusals(node.id))
            self.panel.press("NEXT", 0.1)
            self.watch.wait(lambda: len(self._answer_refusals(node.id)) > refused,
                            "NEXT refused for the answer")
            if reason == "answer_not_asked":
                self.say("  NEXT pressed: refused answer_not_asked (a remote party joined "
                         "after the question)")
            else:
                heard = {a["party"]: a["meaning"] for a in self._answers(node.id, attempt)}
                self.say(f"  NEXT pressed: refused {reason} (heard: {heard})")
                explanation = self.scenario.explanation(node.kind)
                self.say(f"  the salesperson explains: {explanation}")
                self._until(self.voices.say(SALESPERSON_VOICE, explanation))
            self.say("  REPLAY pressed: the unit asks again")
            self.panel.press("REPLAY", 0.1)
            self.watch.wait(lambda: self._own_prompts(node.id) >= attempt + 1,
                            f"the prompt of {node.id} asked again")
        raise RuntimeError(f"the unit did not understand every customer's yes at {node.id} in "
                           f"{MAX_ATTEMPTS} attempts")

    def _counter_answers(self) -> bool:
        """Whether a customer of the sale is at the counter (then the unit listens there)."""
        return not customers_all_remote(self.flow.active.binding.people_json)

    def _answers(self, node: str, attempt: int, party: str | None = None) -> list[dict]:
        return [e for e in self.watch.events("answer", node=node, attempt=attempt)
                if party is None or e.get("party", "counter") == party]

    def _notices(self, node: str) -> int:
        return len([e for e in self.watch.events("prompt", node=node)
                    if e["text_sha256"] == self._notice_sha])

    def _answer_refusals(self, node: str) -> list[dict]:
        return [e for e in self.watch.events("next_refused", node=node)
                if e["reason"].startswith("answer_")]

    def _settled(self, node) -> str | None:
        """``yes`` once NEXT would be taken, the answer refusal that needs REPLAY
        (``answer_negative``, ``answer_unclear``, ``answer_not_asked``: asked of the answers'
        part itself, since another refusal, a remote party not there yet, may come first), or
        None while answers are awaited or something else holds NEXT."""
        active, now = self.flow.active, self.app.clock.monotonic_ns()
        part = next(p for p in self.flow.parts if p.name == "answers")
        answers = part.refusal(active.ctx, node, active.nodes[-1], now)
        if answers in ("answer_negative", "answer_unclear", "answer_not_asked"):
            return answers
        return "yes" if answers is None and self.flow.refusal(now) is None else None

    def _until(self, monotonic_ns: int) -> None:
        """Wait until the unit's clock reaches ``monotonic_ns`` (someone finishes speaking)."""
        self.app.clock.sleep_until_ns(monotonic_ns)
