"""The remote policyholder's side of ``dualrec demo --remote``, reacting to the unit's records
as they become durable (never to a timer): the SMS arrives when the meeting opens; the
salesperson presses NEXT once nothing but the missing party holds it (refused
``remote_not_joined``); the party opens the link and joins; at the ID step it holds its card
up to its own camera, at each question it answers once the unit has asked, and it signs on its
phone when the unit's screen channel asks (the party does that by itself).

:meth:`RemoteCustomer.run` runs on the demo's main thread while the scripted salesperson runs
the buttons on another; it returns when the session has ended, and fails early (with the
salesperson's error) if the salesperson stops.
"""
from __future__ import annotations

import hashlib
import queue
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from firmware.cli.demo_broker import DemoSetupError
from firmware.cli.demo_remote_office import DemoRelay, SmsInbox
from firmware.cli.demo_scenarios import asked_for
from firmware.evidence.records import Record
from firmware.protocol.mqtt.meet_messages import MeetingNotice
from firmware.unit.appliance import Appliance
from firmware.unit.session.answers import NOTICE

NS = 1_000_000_000
SESSION_WAIT_S = 1800.0     # the longest a whole session may take (first renders included)
JOIN_WAIT_S = 90.0          # from opening the link to the call's media on the chain
TICK_S = 0.5                # how often a condition that is no record is looked at again
NOTICE_SHA = hashlib.sha256(NOTICE.encode("utf-8")).hexdigest()   # the unit's "ask again"
ROLE_WORDS = {"policyholder": "投保人", "insured": "被保险人", "guardian": "监护人"}


class Party(Protocol):
    """What the demo needs of a remote party (Chromium or aiortc)."""

    kind: str

    def join(self, code: str, seats: list[int], name: str, id_last4: str) -> dict: ...

    def say(self, pcm: np.ndarray) -> None: ...

    def show(self, bgr: np.ndarray) -> None: ...

    def failed(self) -> str: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RemotePerson:
    """The sale's remote person: name, ID number and the seats (indexes of the ticket's
    people) they hold."""

    name: str
    id_number: str
    seats: tuple[int, ...]
    roles: tuple[str, ...]

    @classmethod
    def of_spec(cls, spec: dict[str, Any], source: str) -> "RemotePerson":
        people = spec.get("people") or []
        remote = [(i, p) for i, p in enumerate(people) if isinstance(p, dict) and p.get("remote")]
        numbers = {str(p.get("id_number")) for _, p in remote}
        if len(numbers) != 1:
            raise DemoSetupError(f"{source}: the remote demo needs exactly one remote person "
                                 f"(people with \"remote\": true), found {len(numbers)}")
        name = str(remote[0][1].get("name"))
        return cls(name, numbers.pop(), tuple(i for i, _ in remote),
                   tuple(str(p.get("role")) for _, p in remote))


@dataclass
class CallFacts:
    """What happened on the remote side, on the unit's clock (CLOCK_MONOTONIC ns)."""

    party_kind: str
    meeting: str = ""
    link: str = ""
    record_ns: int | None = None          # RECORD pressed
    refused_ns: int | None = None         # NEXT refused remote_not_joined
    link_opened_ns: int | None = None     # the party opened the SMS's link
    admitted: dict[str, Any] = field(default_factory=dict)
    joined_ns: int | None = None          # the call's media: remote_joined, connection 1
    answers: list[dict[str, Any]] = field(default_factory=list)
    id_shown: bool = False

    def seconds(self, start: int | None, end: int | None) -> float | None:
        return None if start is None or end is None else round((end - start) / NS, 2)


class RemoteCustomer:
    """The remote person's part in the session: ``make_party()`` makes the party when the SMS
    has come; ``salesperson_alive()`` says whether the salesperson still runs the session
(``salesperson_error()``: why it stopped);
    ``clips``: each answer's words to their sound (int16, 48 kHz); ``id_card``/``face``:
    what the party's camera shows."""

    def __init__(self, app: Appliance, sms: SmsInbox, relay: DemoRelay, person: RemotePerson,
                 make_party: Callable[[str], Party], *, kind: str,
                 salesperson_alive: Callable[[], bool],
                 salesperson_error: Callable[[], BaseException | None],
                 clips: dict[str, np.ndarray],
                 face: np.ndarray, id_card: np.ndarray, say: Callable[[str], None]) -> None:
        self.app, self.sms, self.relay, self.person = app, sms, relay, person
        self._make_party = make_party
        self._alive, self._salesperson_error = salesperson_alive, salesperson_error
        self._clips, self._face, self._id_card = clips, face, id_card
        self._say = say
        self._records: "queue.SimpleQueue[Record]" = queue.SimpleQueue()
        app.add_record_listener(self._records.put)
        self.facts = CallFacts(kind)
        self.party: Party | None = None
        self._session: str | None = None
        self._asked: set[tuple[str, Any]] = set()

    def _now(self) -> int:
        return self.app.clock.monotonic_ns()

    def _next_record(self, deadline: float, what: str) -> Record | None:
        """The next record, or None after :data:`TICK_S` without one. Fails when the
        salesperson stopped or the party failed (not after the salesperson's own wait)."""
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo waited too long for {what}")
        if not self._alive():
            raise DemoSetupError(f"the salesperson stopped while the demo waited for {what}: "
                                 f"{self._salesperson_error()!r}")
        failed = self.party.failed() if self.party is not None else ""
        if failed:
            raise DemoSetupError(f"{self.person.name}'s {self.facts.party_kind} party failed "
                                 f"while the demo waited for {what}: {failed}")
        try:
            return self._records.get(timeout=TICK_S)
        except queue.Empty:
            return None

    # -- the session, as the remote person lives it ---------------------------------------------
    def run(self) -> CallFacts:
        deadline = time.monotonic() + SESSION_WAIT_S
        notice = self._meeting(deadline)
        self.facts.meeting = notice.meeting
        self.facts.link = self.relay.link(notice.meeting)
        self._say(f"  SMS to {self.person.name}: 会议码 {notice.code}, {self.facts.link}")
        self._refused_first(deadline)
        self._join(notice.code)
        self._in_call(deadline)
        return self.facts

    def _meeting(self, deadline: float) -> MeetingNotice:
        """The RECORD press, the session, then the meeting opened: its notice, as the back
        office's SMS sender read it."""
        while True:
            record = self._next_record(deadline, "the meeting to open")
            if record is None:
                continue
            data = record.data
            if record.type == "EVENT" and data.get("kind") == "press" \
                    and data.get("button") == "RECORD" and data.get("gesture") == "press":
                self.facts.record_ns = data.get("at_ns")
            if record.type == "SESSION_START":
                self._session = record.session
            if record.type == "EVENT" and data.get("kind") == "remote_meeting":
                if data.get("event") == "unavailable":
                    raise DemoSetupError(f"the unit could not open the meeting: "
                                         f"{data.get('reason')}")
                if data.get("event") == "opened":
                    self._say(f"  the unit opens a meeting for {self.person.name} (seats "
                              f"{', '.join(map(str, data.get('seats', [])))}) and tells the "
                              "back office")
                    return self.sms.opened(self.app.evidence.device_id)

    def _refused_first(self, deadline: float) -> None:
        """NEXT once nothing but the missing remote party holds it: refused."""
        flow = self.app.flow
        pressed = False
        while True:
            record = self._next_record(deadline, "NEXT refused remote_not_joined")
            if record is not None and record.type == "EVENT" \
                    and record.data.get("kind") == "next_refused" \
                    and record.data.get("reason") == "remote_not_joined":
                self.facts.refused_ns = record.data.get("at_ns")
                self._say(f"  NEXT pressed: refused remote_not_joined ({self.person.name} has "
                          "not joined yet); the salesperson waits")
                return
            if not pressed and flow.active is not None and flow.active.nodes \
                    and flow.refusal(self._now()) == "remote_not_joined":
                self.app.hardware.panel.press("NEXT", 0.1)
                pressed = True

    def _join(self, code: str) -> None:
        kind = self.facts.party_kind
        self._say(f"  {self.person.name} opens the link "
                  + ("in a headless Chromium (fake camera and microphone)"
                     if kind == "chromium" else "(an aiortc WebRTC peer)")
                  + ", types the code, ticks "
                  + "、".join(ROLE_WORDS.get(r, r) for r in self.person.roles)
                  + ", the name and the ID number's last 4")
        self.facts.link_opened_ns = self._now()
        self.party = self._make_party(self.facts.meeting)
        self.party.join(code, list(self.person.seats), self.person.name,
                        self.person.id_number[-4:])

    def _in_call(self, deadline: float) -> None:
        join_by = time.monotonic() + JOIN_WAIT_S
        while True:
            try:
                record = self._next_record(min(deadline, join_by) if self.facts.joined_ns
                                           is None else deadline, "the remote party's call")
            except TimeoutError:
                if self.facts.joined_ns is not None:
                    raise
                describe = getattr(self.party, "describe", lambda: "")()
                raise DemoSetupError(f"{self.person.name}'s call did not reach the unit "
                                     f"{JOIN_WAIT_S:g} s after the link was opened "
                                     f"(admitted: {self.facts.admitted or 'no'}; "
                                     f"{describe})") from None
            if record is None:
                continue
            if record.type == "SESSION_END" and record.session == self._session:
                return
            if record.type == "EVENT":
                self._event(record.data)

    def _event(self, data: dict[str, Any]) -> None:
        kind = data.get("kind")
        if kind == "remote_meeting" and data.get("event") == "admitted":
            self.facts.admitted = {k: data.get(k) for k in ("party", "seats", "roles")}
        elif kind == "remote_joined" and self.facts.joined_ns is None \
                and data.get("party") == self.facts.admitted.get("party"):
            self.facts.joined_ns = data.get("at_ns")
            roles = "、".join(ROLE_WORDS.get(r, r) for r in self.facts.admitted.get("roles")
                             or ())
            facts = self.facts
            self._say(f"  {self.person.name} joined: party {data.get('party')} ({roles}), "
                      f"connection {data.get('connection')}, "
                      f"{facts.seconds(facts.record_ns, facts.joined_ns)} s after RECORD "
                      f"({facts.seconds(facts.link_opened_ns, facts.joined_ns)} s after "
                      "opening the link)")
        elif kind == "node_start":
            node = self._node(data.get("node"))
            if node is not None and node.kind == "show_id" and self.facts.party_kind == "aiortc":
                self.party.show(self._id_card)       # type: ignore[union-attr]
                self.facts.id_shown = True
                self._say(f"  {self.person.name} holds the ID card up to the phone's camera")
        elif kind == "node_end":
            node = self._node(data.get("node"))
            if node is not None and node.kind == "show_id" and self.facts.id_shown:
                self.party.show(self._face)          # type: ignore[union-attr]
        elif kind == "prompt" and data.get("completed") and data.get("text_sha256") != NOTICE_SHA:
            self._answer(data.get("node"), data.get("start_ns"))     # asked (again: REPLAY)
        elif kind == "remote_photo":
            self._say(f"  the unit takes {self.person.name}'s picture at {data.get('node')}: "
                      + (str(data.get("photo")) if data.get("photo")
                         else f"none ({data.get('reason')})"))
        elif kind == "remote_signature":
            self._say(f"  {self.person.name} signs on the phone: {data.get('strokes')} "
                      f"strokes, sealed as {data.get('file')}")
        elif kind == "remote_media_lost":
            self._say(f"  {self.person.name}'s {data.get('stream')} was lost "
                      f"({data.get('reason')})")

    def _node(self, node_id: Any):
        active = self.app.flow.active
        if active is None:
            return None
        return next((n for n in active.binding.template.nodes if n.id == node_id), None)

    def _answer(self, node_id: Any, asked: Any) -> None:
        """At a question: the party answers each time the unit has asked (``asked``: which
        time, the prompt's start). A question asked before the party joined is not answered:
        the unit asks it again (REPLAY)."""
        node = self._node(node_id)
        if node is None or "answer" not in node.requires or (node.id, asked) in self._asked:
            return
        self._asked.add((node.id, asked))
        line = asked_for(node.prompt)
        self.facts.answers.append({"node": node.id, "said": line})
        if self.facts.party_kind == "aiortc" and line in self._clips:
            self.party.say(self._clips[line])       # type: ignore[union-attr]
            self._say(f"  {self.person.name} answers from home: {line}")
        else:
            self._say(f"  {self.person.name}'s microphone plays the answers (looped): {line}")
