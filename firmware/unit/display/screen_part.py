"""The customer's screen as a session part: it follows the session and publishes what the
screen shows, takes the customer's reading input, and puts what was shown on the chain.

Between sessions (``idle``): the unit's state and the hint to show the ticket, or for
:data:`~firmware.unit.display.start_refusals.SHOW_SECONDS` after RECORD was refused, why (a
ticket expired, used, for another branch, not validly signed; the self-test; the disk), heard
from the chain (:class:`~firmware.unit.display.start_refusals.StartRefusals`). In a session:
the node (number of total, title), the prompt as captions timed from the voice's start, what
the node still needs, the countdown of its minimum time, the last refusal of NEXT in words
(until its cause is gone or the node ends), the people by role with masked names, elder mode
from the template, the live signature at signature nodes, and at reading nodes the documents
page by page (:class:`~firmware.unit.display.reading_node.ReadingNode`, which also refuses NEXT).

What the node still needs is worked out from every refusal that stands now, not only the first
the flow would give: the other parts (``peers``) are asked, and the flow's own checks (prompt
playing, pen on the pad, minimum time, a signature) are repeated from the same facts. A part's
``refusal`` is a question without side effects, so asking it every tick is safe. Whether the
pad's signature and the counter's reading are needed at all is decided by
:func:`~firmware.unit.session.node_duties.node_duties`, as the flow decides it: only when
someone who signs / reads at the node is at the counter. Without one, the live signature is
not shown and the documents are shown without being required.

On the chain, as the session's EVENTs: ``screen`` for each :class:`ScreenChange` (``part``: which
part of the screen, ``at_ns``: when, ``sha256``: of that part's canonical JSON as shown,
``viewers``: how many screens showed it, ``node``: the node on screen), the reading
node's ``screen_documents``, ``screen_page`` and ``screen_read``, ``screen_viewers`` when the
number of connected screens changes, and ``screen_fault`` if the server dies.

Between sessions the same ``screen`` records (``node``: None) go on the chain outside any
session when the part is given ``event``.

Threads: every hook runs on the flow's thread; ``pen_sample``/``stroke_ended`` run on the pad's
and only hand the sample to the server (thread-safe). Input from the page arrives through the
:class:`ScreenInbox` and is handled on the flow's thread (``ctx.post`` wakes it).
"""
from __future__ import annotations

import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from drivers.clock.base import Clock
from drivers.sigpad.base import PadInfo, PenSample
from firmware.unit.display.captions import mask_names
from firmware.unit.display.documents import DocumentLibrary
from firmware.unit.display.errors import DisplayClosedError, ViewError
from firmware.unit.display.events import InputEvent, ScreenChange
from firmware.unit.display.reading_node import ReadingNode, node_documents
from firmware.unit.display.screen_inbox import ScreenInbox
from firmware.unit.display.session_view import (COMPLETE_STATUS, idle_view, needs_of,
                                                people_of)
from firmware.unit.display.start_refusals import StartRefusals
from firmware.unit.display.view import Caption, DisplayView, NodeView, Refusal
from firmware.unit.session.binding import FlowSnapshot
from firmware.unit.session.node_duties import node_duties, session_people, shows_documents
from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.quality import NodeOutcome
from firmware.unit.session.script import ScriptNode

if TYPE_CHECKING:
    from firmware.unit.display.server import DisplayServer
    from firmware.unit.session.prompter import PromptPlay

log = logging.getLogger(__name__)

_DIGITS = re.compile(r"\d")


def caption_of(text: str, duration_ms: int | None = None,
               started_ns: int | None = None) -> Caption | None:
    """The prompt ``text`` as a caption (timed when ``duration_ms`` is given). A prompt the
    view refuses (a number that looks like an ID or a phone number, rendered from the sale's
    facts) is shown with its digits hidden; one that still cannot be shown is not shown."""
    for candidate in (text, _DIGITS.sub("*", text)):
        try:
            if duration_ms is None:
                return Caption(candidate)
            return Caption.spoken(candidate, duration_ms, started_ns)
        except ViewError as exc:
            log.warning("a caption cannot be shown as it is: %s", exc)
    return None


class PenState(Protocol):
    """What the screen asks of the recorder's pad (the flow asks the same)."""

    @property
    def signing(self) -> bool: ...

    @property
    def has_signature(self) -> bool: ...


class ScreenPart(SessionPart):
    """Feeds ``server`` from the session. ``inbox`` is where the server puts its input, changes
    and fault; ``pen`` the recorder (signing, has_signature); ``pad_info`` the pad's shape for
    the live signature (None: no pad); ``peers`` the session's other parts (the list may still
    grow after this part is made; this part skips itself); ``snapshot()`` the flow's published
    state, or None before the flow exists; ``refusals`` the last refusal of RECORD, heard from
    the chain (shown between sessions); ``event(kind, data)`` puts what the screen shows
    between sessions on the chain (None: only a session's screen is recorded)."""

    name = "screen"

    def __init__(self, server: "DisplayServer", library: DocumentLibrary, inbox: ScreenInbox,
                 clock: Clock, *, pen: PenState | None = None, pad_info: PadInfo | None = None,
                 peers: Sequence[SessionPart] = (),
                 snapshot: Callable[[], FlowSnapshot | None] = lambda: None,
                 refusals: StartRefusals | None = None,
                 event: Callable[[str, dict], object] | None = None) -> None:
        self._server = server
        self._library = library
        self._inbox = inbox
        self._clock = clock
        self._pen = pen
        self._pad_info = pad_info
        self._peers = peers
        self._snapshot = snapshot
        self.refusals = refusals
        self.idle_event = event
        self._fault: BaseException | None = None
        self._shown_key: object = None
        self._reset(None)

    def _reset(self, ctx: SessionContext | None) -> None:
        self._ctx = ctx
        self._people: tuple = ()
        self._names: tuple[tuple[str, str], ...] = ()
        self._node: ScriptNode | None = None
        self._number = 0
        self._run: NodeOutcome | None = None
        self._caption: Caption | None = None
        self._play: "PromptPlay | None" = None
        self._refusal: Refusal | None = None
        self._reading: ReadingNode | None = None
        self._signature = False
        self._pad_wanted = False      # someone who signs at this node is at the counter
        self._complete = False
        self._viewers: int | None = None

    # -- the server's side (its thread, the pad's) ---------------------------------------------
    def pen_sample(self, sample: PenSample) -> None:
        """On the pad's thread: drawn live while a signature is on screen."""
        try:
            self._server.signature_sample(sample)
        except DisplayClosedError:
            pass    # the unit is stopping: the recorder keeps the strokes; nothing to draw on

    def stroke_ended(self, timestamp_ns: int) -> None:
        try:
            self._server.signature_stroke_end()
        except DisplayClosedError:
            pass

    # -- publishing ----------------------------------------------------------------------------
    def _publish(self, view: DisplayView, key: object = None) -> None:
        """Show ``view`` if it differs from what is shown (compared by ``key`` when given:
        the view without what changes by time alone), then record what changed."""
        key = view if key is None else key
        if key != self._shown_key:
            self._shown_key = key
            self._server.publish(view)
        self._drain()

    def _record(self, kind: str, data: dict) -> None:
        if self._ctx is not None:
            self._ctx.event(kind, data)
        elif self.idle_event is not None:
            self.idle_event(kind, data)

    def _drain(self) -> None:
        """Handle what the inbox holds (flow's thread): input, screen changes, a fault."""
        items, dropped = self._inbox.take()
        if dropped:
            log.warning("the customer's screen: %d inputs or changes were dropped", dropped)
            self._record("screen_dropped", {"items": dropped})
        changed = False
        for item in items:
            if isinstance(item, ScreenChange):
                self._record("screen", {"part": item.kind, "at_ns": item.at_ns,
                                        "sha256": item.sha256, "viewers": item.viewers,
                                        "node": self._node.id if self._node else None})
            elif isinstance(item, InputEvent):
                changed = self._input(item) or changed
            else:
                self._screen_fault(item)
                changed = True
        if changed and self._ctx is not None:
            self._show(self._ctx.now_ns())

    def _input(self, event: InputEvent) -> bool:
        if self._ctx is None:
            return False          # between sessions the screen has nothing to turn
        if event.kind == "viewers" and event.viewers != self._viewers:
            self._viewers = event.viewers
            self._record("screen_viewers", {"viewers": event.viewers, "at_ns": event.at_ns})
        return self._reading.handle(event) if self._reading is not None else False

    def _screen_fault(self, exc: BaseException) -> None:
        if self._fault is None:
            log.error("the customer's screen stopped: %s", exc)
            self._record("screen_fault", {"error": f"{type(exc).__name__}: {exc}"[:300]})
        self._fault = exc

    # -- what is shown -------------------------------------------------------------------------
    def _reasons(self, now_ns: int) -> set[str]:
        """Every reason NEXT would be refused now (the flow gives only the first)."""
        ctx, node, run = self._ctx, self._node, self._run
        reasons: set[str] = set()
        if ctx is None or node is None or run is None or self._complete:
            return reasons
        if self._play is not None and not self._play.playback.done:
            reasons.add("prompt_playing")
        if self._pen is not None and self._pen.signing:
            reasons.add("signing")
        if now_ns - run.start_ns < node.min_seconds * 1e9:
            reasons.add("min_duration")
        for part in self._peers:
            reason = None if part is self else part.refusal(ctx, node, run, now_ns)
            if reason is not None:
                reasons.add(reason)
        own = self.refusal(ctx, node, run, now_ns)
        if own is not None:
            reasons.add(own)
        if self._pad_wanted and not (self._pen is not None and self._pen.has_signature):
            reasons.add("missing_signature")
        return reasons

    def _show(self, now_ns: int) -> None:
        """Publish the session's screen as of ``now_ns`` if it changed."""
        reasons = self._reasons(now_ns)
        refusal = self._refusal
        if refusal is not None and refusal.code not in reasons:
            refusal = self._refusal = None          # its cause is gone
        if refusal is not None and self._reading is not None:
            refusal = dataclasses.replace(refusal, detail=self._reading.detail(refusal.code,
                                                                               now_ns))
        try:
            view = self._session_view(now_ns, reasons, refusal)
        except ViewError as exc:     # a bad title or text: the screen stays, the session goes on
            if self._ctx is not None and self._shown_key != ("error", str(exc)):
                log.error("the customer's screen cannot show this node: %s", exc)
                self._record("screen_error", {"error": str(exc)[:300],
                                              "node": self._node.id if self._node else None})
            self._shown_key = ("error", str(exc))
            return
        key = dataclasses.replace(view, reading=None), (
            self._reading.read_marks(now_ns) if self._reading else None,
            view.reading and (view.reading.current, view.reading.page))
        self._publish(view, key)

    def _session_view(self, now_ns: int, reasons: set[str],
                      refusal: Refusal | None) -> DisplayView:
        node, run = self._node, self._run
        return DisplayView(
            state="recording", status=COMPLETE_STATUS if self._complete else "录制中", hint="",
            node=NodeView(self._number, len(self._ctx.binding.template.nodes), node.title)
            if node is not None and not self._complete else None,
            caption=None if self._complete else self._caption,
            needs=needs_of(reasons),
            min_until_ns=run.start_ns + int(node.min_seconds * 1e9)
            if run is not None and node is not None and node.min_seconds > 0
            and not self._complete else None,
            refusal=refusal, people=self._people, elder=self._ctx.binding.template.elder,
            reading=self._reading.view(now_ns) if self._reading and not self._complete else None)

    # -- between sessions ----------------------------------------------------------------------
    def _idle_view(self, now_ns: int) -> DisplayView:
        refused = self.refusals.current(now_ns) if self.refusals is not None else None
        return idle_view(self._snapshot(), refused)

    def idle(self, now_ns: int) -> None:
        self._drain()
        self._publish(self._idle_view(now_ns))

    # -- the session ---------------------------------------------------------------------------
    def session_started(self, ctx: SessionContext) -> None:
        self._reset(ctx)
        self._inbox.take()                 # nothing from before the session belongs to it
        self._people, self._names = people_of(ctx.binding.people_json)
        self._inbox.wake_with(lambda: ctx.post(self._drain))
        self._show(ctx.now_ns())

    def node_started(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome) -> None:
        nodes = ctx.binding.template.nodes
        self._node, self._run, self._refusal, self._play = node, run, None, None
        self._number = next(i for i, n in enumerate(nodes) if n.id == node.id) + 1
        self._caption = caption_of(mask_names(ctx.binding.prompt(node), self._names))
        documents = node_documents(node.documents, ctx.binding.documents) \
            if node.kind == "documents" else ()
        duties = node_duties(node, session_people(ctx),
                             reads=shows_documents(node, ctx.binding.documents))
        self._reading = ReadingNode(node.id, documents, self._library, self._clock, ctx.event,
                                    required=duties.counter_reads) if documents else None
        self._pad_wanted = duties.counter_signs
        if self._pad_wanted:
            self._server.signature_begin(self._pad_info)
            self._signature = True
        self._show(ctx.now_ns())

    def prompt_started(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome,
                       play: "PromptPlay") -> None:
        self._play = play
        self._caption = caption_of(mask_names(play.text, self._names),
                                   play.playback.duration_ns // 1_000_000,
                                   play.playback.started_ns)
        self._show(ctx.now_ns())

    def tick(self, ctx: SessionContext, node: ScriptNode | None, now_ns: int) -> None:
        self._drain()
        if node is None and self._node is not None and not self._complete:
            self._complete = True                       # the last node was accepted
        self._show(now_ns)

    def refusal(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome,
                now_ns: int) -> str | None:
        reading = self._reading
        if reading is None or reading.node_id != node.id:
            return None
        if self._fault is not None:
            return "display_fault"
        return reading.refusal(now_ns)

    def refused(self, ctx: SessionContext, node: ScriptNode, reason: str) -> None:
        now = ctx.now_ns()
        detail = self._reading.detail(reason, now) if self._reading is not None else ""
        self._refusal = Refusal(reason, now, detail)
        self._show(now)

    def node_ending(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome) -> None:
        self._end_node(ctx.now_ns())

    def _end_node(self, now_ns: int) -> None:
        if self._reading is not None:
            self._reading.close(now_ns)
            self._reading = None
        if self._signature:
            self._server.signature_begin(None)
            self._signature = False
        self._pad_wanted = False
        self._refusal = None
        self._drain()

    def session_ending(self, ctx: SessionContext) -> None:
        self._end_node(ctx.now_ns())
        self._inbox.wake_with(None)

    def session_ended(self, ctx: SessionContext, summary: dict) -> None:
        self._reset(None)
        self._publish(self._idle_view(ctx.now_ns()))

    def close(self) -> None:
        self._inbox.wake_with(None)
