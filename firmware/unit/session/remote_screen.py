"""Remote parties read the documents and sign on their own screen (issue 17); NEXT waits for
them.

Each admitted party's call carries a ``screen`` data channel
(:mod:`firmware.unit.remote.screen_link`; the messages: :mod:`.screen_messages`). Over it the
part sends the party what the counter's customer screen shows (the same view, captions
included; without a counter screen, the node, its caption and the people), with the party's
*own* reading in it: each party turns the pages of the node's documents on its phone, asks for
each page's picture (rendered by the unit's document library, sent in chunks), says when it is
on screen and presses "我已阅读"; a :class:`~firmware.unit.display.reading.ReadingTracker` per
party counts its time, as the counter's does. At a signature node the party signs with a
finger; the strokes are sealed as the party's own file.

NEXT is refused ``remote_reading`` while an admitted party that must read has unread pages
(or has not pressed "我已阅读") at a reading node, ``remote_signing`` at a signature node until
the finger signature of every admitted party that must sign is sealed, and ``document_missing``
when the node's documents cannot be shown. Which parties must read and sign is decided by
:func:`~firmware.unit.session.node_duties.node_duties` (the node's ``readers`` / ``signers``
and the people each party holds); a party that need not sign is not asked to and its
signature is refused, and one that need not read may read without being waited for. A party
that drops keeps its reading: its page stops counting while it is away and its tracker waits
for it.

On the chain (EVENTs of the session, no name or ID number; docs/evidence-format.md): the
counter's ``screen_page``, ``screen_read`` and ``screen`` records with ``party``, the SEGMENT
of each finger signature (``stream: "remote_signature"``) with its EVENT ``remote_signature``
(the file's SHA-256), ``remote_screen`` (the channel opening and closing, a page that could
not be sent, a summary per party at the end) and ``remote_screen_refused`` (a message not
taken: its type, field and rule, never its value).

Threads: the hooks run on the flow's thread, which owns every :class:`PartyScreen`; the
channel's events arrive on each party's loop thread, are braked and checked there
(:class:`~.party_screen.InputGate`, :func:`~.screen_messages.parse_party_message`) and carried
to the flow with ``ctx.post``; pages are rendered on one thread of the part's own.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import TYPE_CHECKING, Any, Callable

from drivers.clock.base import Clock
from firmware.evidence import canonical
from firmware.unit.display.captions import mask_names
from firmware.unit.display.documents import Document, DocumentLibrary
from firmware.unit.display.errors import DocumentError, ViewError
from firmware.unit.display.reading import PageShown, ReadingTracker
from firmware.unit.display.reading_node import node_documents
from firmware.unit.display.screen_part import caption_of
from firmware.unit.display.session_view import COMPLETE_STATUS, people_of
from firmware.unit.display.view import Caption, DisplayView, NodeView, Refusal
from firmware.unit.session.node_duties import (NodeDuties, node_duties, session_people,
                                               shows_documents)
from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.party_pages import PagePictures
from firmware.unit.session.party_screen import (MAX_CHANNEL_RECORDS, MAX_REFUSAL_RECORDS,
                                                INPUT_RATE, PartyScreen, node_document,
                                                party_view, take_reading, view_key)
from firmware.unit.session.remote_parties import REMOTE_PARTIES, RemoteSeated
from firmware.unit.session.screen_messages import (FingerSignature, ImageRequest,
                                                   PageOnScreen, PageTurn, PartyMessage,
                                                   ReadConfirmed, ScreenMessageError,
                                                   parse_party_message, refused_message,
                                                   view_message)
from firmware.unit.session.remote_signature import seal_finger_signature

if TYPE_CHECKING:
    from firmware.unit.remote.screen_link import ScreenEvent
    from firmware.unit.session.prompter import PromptPlay
    from firmware.unit.session.quality import NodeOutcome
    from firmware.unit.session.script import ScriptNode

log = logging.getLogger(__name__)

OWN_CODES = ("remote_reading", "remote_signing", "document_missing")


class RemoteScreenPart(SessionPart):
    """See the module docstring. ``library``: the unit's documents; ``counter_view()``: what
    the counter's screen shows now (None without one)."""

    name = "remote_screen"

    def __init__(self, library: DocumentLibrary, clock: Clock, *,
                 counter_view: Callable[[], DisplayView | None] = lambda: None) -> None:
        self._library = library
        self._clock = clock
        self._counter_view = counter_view
        self._pictures = PagePictures(library)
        self._reset(None)

    def _reset(self, ctx: SessionContext | None) -> None:
        self._ctx = ctx
        self._active = False              # the session's sale has remote seats
        self._parties: dict[str, PartyScreen] = {}
        self._seats: dict[str, tuple[int, ...]] = {}   # party -> the sale's people it holds
        self._people: tuple = ()
        self._names: tuple = ()
        self._node: "ScriptNode | None" = None
        self._run: "NodeOutcome | None" = None
        self._number = 0
        self._complete = False
        self._caption: Caption | None = None
        self._refusal: Refusal | None = None
        self._documents: tuple[Document, ...] = ()
        self._missing = False

    # -- who is there ----------------------------------------------------------------------
    def _admitted(self, ctx: SessionContext) -> dict[str, RemoteSeated]:
        remote = ctx.values.get(REMOTE_PARTIES)
        return {} if remote is None else {s.party: s for s in remote.admitted()}

    def _duties(self, ctx: SessionContext, node: "ScriptNode",
                seats: dict[str, tuple[int, ...]] | None = None) -> NodeDuties:
        """Who must sign and read at ``node``: the parties by the people they hold (``seats``:
        party -> seats; the parties followed when None)."""
        return node_duties(node, session_people(ctx), self._seats if seats is None else seats,
                           reads=shows_documents(node, ctx.binding.documents))

    def _follow(self, ctx: SessionContext) -> None:
        """Start following newly admitted parties' screens; forget released ones."""
        admitted = self._admitted(ctx)
        self._seats = {party: seated.seats for party, seated in admitted.items()}
        for party, seated in admitted.items():
            media = seated.media
            if party in self._parties or not hasattr(media, "on_screen"):
                continue
            screen = PartyScreen(party, media)
            try:
                screen.unsubscribe = media.on_screen(
                    lambda event, s=screen: self._screen_event(ctx, s, event))
            except RuntimeError as exc:      # not started yet: the next tick tries again
                log.warning("remote party %s: its screen cannot be followed yet: %s", party, exc)
                continue
            self._parties[party] = screen
            self._track(screen)
        for party in [p for p in self._parties if p not in admitted]:
            self._forget(self._parties.pop(party), ctx.now_ns())

    def _forget(self, screen: PartyScreen, now_ns: int) -> None:
        screen.unsubscribe()
        if screen.tracker is not None:
            screen.tracker.hidden(now_ns)
            screen.tracker = None

    def _track(self, screen: PartyScreen) -> None:
        """The party's tracker of this node's documents (made once per node)."""
        node = self._node
        if not self._documents or node is None or screen.tracker_node == node.id:
            return
        screen.tracker_node = node.id
        screen.tracker = ReadingTracker(
            self._documents, self._clock,
            on_page=lambda shown, p=screen.party, n=node.id: self._page_shown(p, n, shown))

    def _page_shown(self, party: str, node: str, shown: PageShown) -> None:
        if self._ctx is not None:
            self._ctx.event("screen_page", {"node": node, "party": party, **shown.as_record()})

    # -- the session -------------------------------------------------------------------------
    def session_started(self, ctx: SessionContext) -> None:
        self._reset(ctx)
        remote = ctx.values.get(REMOTE_PARTIES)     # its part starts before this one
        self._active = remote is not None and bool(remote.remote_seats())
        if self._active:
            self._people, self._names = people_of(ctx.binding.people_json)

    def node_started(self, ctx: SessionContext, node: "ScriptNode", run: "NodeOutcome") -> None:
        if not self._active:
            return
        self._node, self._run, self._refusal = node, run, None
        self._number = next(i for i, n in enumerate(ctx.binding.template.nodes)
                            if n.id == node.id) + 1
        self._caption = caption_of(mask_names(ctx.binding.prompt(node), self._names))
        self._documents, self._missing = (), False
        if node.kind == "documents":
            opened = []
            for sha in node_documents(node.documents, ctx.binding.documents):
                try:
                    opened.append(self._library.open(sha))
                except DocumentError as exc:      # the counter's screen records which
                    log.error("node %s: document %s cannot be shown remotely: %s",
                              node.id, sha, exc)
                    self._missing = True
            self._documents = tuple(opened)
        for screen in self._parties.values():
            self._track(screen)

    def prompt_started(self, ctx: SessionContext, node: "ScriptNode", run: "NodeOutcome",
                       play: "PromptPlay") -> None:
        if not self._active:
            return
        self._caption = caption_of(mask_names(play.text, self._names),
                                   play.playback.duration_ns // 1_000_000,
                                   play.playback.started_ns)

    def tick(self, ctx: SessionContext, node: "ScriptNode | None", now_ns: int) -> None:
        if not self._active:
            return
        if node is None and self._node is not None:
            self._complete = True
        self._follow(ctx)
        for screen in self._parties.values():
            self._publish(screen, now_ns)

    def refusal(self, ctx: SessionContext, node: "ScriptNode", run: "NodeOutcome",
                now_ns: int) -> str | None:
        admitted = self._admitted(ctx) if self._active else {}
        if not admitted or self._node is not node:
            return None
        duties = self._duties(ctx, node, {p: s.seats for p, s in admitted.items()})
        readers = [self._parties.get(p) for p, s in admitted.items()
                   if duties.party_reads(s.seats)]
        signers = [self._parties.get(p) for p, s in admitted.items()
                   if duties.party_signs(s.seats)]
        if node.kind == "documents":
            if self._missing:
                return "document_missing"
            if self._documents and any(s is None or s.tracker is None
                                       or s.tracker.unread(now_ns) for s in readers):
                return "remote_reading"
        if any(s is None or node.id not in s.signatures for s in signers):
            return "remote_signing"
        return None

    def refused(self, ctx: SessionContext, node: "ScriptNode", reason: str) -> None:
        self._refusal = Refusal(reason, ctx.now_ns()) if reason in OWN_CODES else None

    def node_ending(self, ctx: SessionContext, node: "ScriptNode", run: "NodeOutcome") -> None:
        self._end_node(ctx.now_ns())

    def _end_node(self, now_ns: int) -> None:
        for screen in self._parties.values():
            if screen.tracker is not None:
                screen.tracker.hidden(now_ns)
                screen.tracker = None
        self._documents, self._missing, self._refusal = (), False, None

    def session_ending(self, ctx: SessionContext) -> None:
        now = ctx.now_ns()
        self._end_node(now)
        for screen in self._parties.values():
            self._forget(screen, now)
            ctx.event("remote_screen", {"event": "summary", **screen.summary()})

    def session_ended(self, ctx: SessionContext, summary: dict) -> None:
        self._reset(None)

    def close(self) -> None:
        for screen in self._parties.values():
            screen.unsubscribe()
        self._pictures.close()

    # -- what a party sees -------------------------------------------------------------------
    def _base_view(self, now_ns: int) -> DisplayView:
        counter = self._counter_view()
        if counter is not None and counter.state == "recording" and (
                (counter.node is None) == self._complete) and (
                counter.node is None or counter.node.number == self._number):
            return counter
        node, run, ctx = self._node, self._run, self._ctx
        refusal = self._refusal
        if refusal is not None and node is not None and run is not None \
                and self.refusal(ctx, node, run, now_ns) != refusal.code:
            refusal = self._refusal = None            # its cause is gone
        return DisplayView(
            state="recording", status=COMPLETE_STATUS if self._complete else "录制中", hint="",
            node=None if self._complete or node is None else NodeView(
                self._number, len(ctx.binding.template.nodes), node.title),
            caption=None if self._complete else self._caption,
            min_until_ns=run.start_ns + int(node.min_seconds * 1e9)
            if run is not None and node is not None and node.min_seconds > 0
            and not self._complete else None,
            refusal=refusal, people=self._people, elder=ctx.binding.template.elder)

    def _publish(self, screen: PartyScreen, now_ns: int) -> None:
        """Send the party its view if it changed (and record what changed)."""
        if screen.connection is None or self._ctx is None:
            return
        node = self._node
        duties = self._duties(self._ctx, node) if node is not None else None
        seats = self._seats.get(screen.party, ())
        signature = screen.signature_state(
            node.id if node is not None and not self._complete else None,
            duties is not None and duties.party_signs(seats))
        try:
            base = self._base_view(now_ns)
            view = party_view(base, screen, now_ns, signature)
            if duties is not None and not duties.party_reads(seats):   # may read, not asked to
                view = dataclasses.replace(view, refusal=base.refusal, needs=tuple(
                    n for n in view.needs if n != "pages"))
        except ViewError as exc:
            log.error("remote party %s: the view cannot be shown: %s", screen.party, exc)
            return
        key = view_key(view, signature)
        if key == screen.shown_key:
            return
        screen.shown_key = key
        parts = view.parts()
        screen.media.send_screen(view_message(now_ns, parts, signature))
        screen.views += 1
        for part, data in parts.items():
            sha = hashlib.sha256(canonical.encode(data)).hexdigest()
            if screen.hashes.get(part) != sha:
                screen.hashes[part] = sha
                self._ctx.event("screen", {"party": screen.party, "part": part,
                                           "at_ns": now_ns, "sha256": sha, "viewers": 1,
                                           "node": node.id if node is not None else None})

    # -- from the party: its loop thread, then the flow's --------------------------------------
    def _screen_event(self, ctx: SessionContext, screen: PartyScreen,
                      event: "ScreenEvent") -> None:
        """On the party's loop: brake, check, and hand on to the flow's thread."""
        if event.kind in ("open", "closed"):
            ctx.post(lambda: self._channel(ctx, screen, event))
            return
        if not screen.gate.take(event.at_ns):
            if not screen.gate.braking:
                screen.gate.braking = True
                error = ScreenMessageError("$", f"more than {INPUT_RATE} messages a second: "
                                           "dropped until they slow down")
                ctx.post(lambda: self._refuse(ctx, screen, event, error))
            return
        try:
            if event.kind == "refused":
                raise ScreenMessageError("$", str(event.reason))
            message = parse_party_message(event.data)
        except ScreenMessageError as exc:
            ctx.post(lambda error=exc: self._refuse(ctx, screen, event, error))
            return
        ctx.post(lambda: self._input(ctx, screen, message, event))

    def _channel(self, ctx: SessionContext, screen: PartyScreen, event: "ScreenEvent") -> None:
        if ctx is not self._ctx or self._parties.get(screen.party) is not screen:
            return
        if event.kind == "open":
            screen.connection, screen.shown_key, screen.hashes = event.connection, None, {}
        elif screen.connection == event.connection:
            screen.connection = None
            if screen.tracker is not None:
                screen.tracker.hidden(event.at_ns)       # its page stops counting
        else:
            return
        if screen.channel_records < MAX_CHANNEL_RECORDS:
            screen.channel_records += 1
            ctx.event("remote_screen", {"event": event.kind, "party": screen.party,
                                        "connection": event.connection, "at_ns": event.at_ns})
        self._publish(screen, ctx.now_ns())

    def _refuse(self, ctx: SessionContext, screen: PartyScreen, event: "ScreenEvent",
                error: ScreenMessageError) -> None:
        if ctx is not self._ctx:
            return
        screen.refused += 1
        log.info("remote party %s: screen message refused: %s", screen.party, error)
        if screen.refusal_records < MAX_REFUSAL_RECORDS:
            screen.refusal_records += 1
            ctx.event("remote_screen_refused", {
                "party": screen.party, "connection": event.connection, "at_ns": event.at_ns,
                "of": error.of, "field": error.field[:80], "rule": error.rule[:200]})
        if screen.connection is not None:
            screen.media.send_screen(refused_message(error))

    def _input(self, ctx: SessionContext, screen: PartyScreen, message: PartyMessage,
               event: "ScreenEvent") -> None:
        if ctx is not self._ctx or self._parties.get(screen.party) is not screen:
            return
        screen.messages += 1
        try:
            if isinstance(message, FingerSignature):
                self._signature(ctx, screen, message, event)
            elif isinstance(message, ImageRequest):
                node_document(self._documents, message.document, message.page, "image")
                self._pictures.request(screen, message, ctx.post,
                                       lambda *done: self._rendered(ctx, *done))
            else:
                self._reading(ctx, screen, message, event.at_ns)
        except ScreenMessageError as exc:
            self._refuse(ctx, screen, event, exc)
            return
        self._publish(screen, ctx.now_ns())

    def _reading(self, ctx: SessionContext, screen: PartyScreen,
                 message: PageTurn | PageOnScreen | ReadConfirmed, at_ns: int) -> None:
        accepted = take_reading(screen, self._documents, message, at_ns)
        if accepted is not None:
            ctx.event("screen_read", {"node": screen.tracker_node, "party": screen.party,
                                      "document": message.document, "at_ns": at_ns,
                                      "accepted": accepted})

    def _signature(self, ctx: SessionContext, screen: PartyScreen, signature: FingerSignature,
                   event: "ScreenEvent") -> None:
        node = self._node
        if node is None or self._complete or "signature" not in node.requires \
                or signature.node != node.id:
            raise ScreenMessageError("$.node", "this step takes no signature", "signature")
        if not self._duties(ctx, node).party_signs(self._seats.get(screen.party, ())):
            raise ScreenMessageError("$.node", "this step takes no signature from this party "
                                     "(the template's signers hold no seat of it)", "signature")
        if node.id in screen.signatures:
            raise ScreenMessageError("$.node", "this step's signature is sealed already",
                                     "signature")
        screen.signatures[node.id] = seal_finger_signature(
            ctx, screen.party, signature, connection=event.connection, received_ns=event.at_ns)

    def _rendered(self, ctx: SessionContext, screen: PartyScreen, request: ImageRequest,
                  outcome: int | BaseException) -> None:
        """A page picture went (``outcome``: its size) or failed; the next waiting one."""
        if ctx is not self._ctx:
            return
        if not isinstance(outcome, int):
            log.error("remote party %s: page %d of %s could not be sent: %r", screen.party,
                      request.page, request.document, outcome)
            ctx.event("remote_screen", {"event": "image_failed", "party": screen.party,
                                        "document": request.document, "page": request.page,
                                        "error": repr(outcome)[:200]})
        waiting = self._pictures.next_waiting(screen)
        if waiting is not None and any(d.sha256 == waiting.document for d in self._documents):
            self._pictures.request(screen, waiting, ctx.post,
                                   lambda *done: self._rendered(ctx, *done))


def remote_screen_parts(config: Any, clock: Clock, *, library: DocumentLibrary | None,
                        counter_view: Callable[[], DisplayView | None] = lambda: None
                        ) -> list[SessionPart]:
    """The part when ``[meet] enabled`` (else nothing). ``library``: the counter screen's
    (None: the library of ``[display] documents`` is loaded here)."""
    if not config.meet.enabled:
        return []
    if library is None:
        library = DocumentLibrary.load(config.display.documents)
    return [RemoteScreenPart(library, clock, counter_view=counter_view)]
