"""Remote parties in a session (issue 17): the meeting opened at the session's start for the
sale's remote people, each admitted party's call recorded on the session's chain, NEXT refused
while a remote party is missing, the meeting ended with the session.

The part joins the two halves that stay independent of each other: the meeting host
(:mod:`firmware.unit.meet`: the code, seats, identity proof, resume tokens; one Signalling per
connection of a party) and the remote media (:mod:`firmware.unit.remote`: a RemoteParty per
party, its streams sealed as its own, its joins, leaves, drops and statistics as records).
Between them is a :class:`~firmware.unit.session.party_line.PartyLine` per party.

Records (EVENTs of the session, no code, name or ID digit):

| ``kind`` | ``data`` |
| --- | --- |
| ``remote_meeting`` | ``event`` (the host's: ``opened``, ``refused``, ``admitted`` — the role choice —, ``resumed``, ``disconnected``, ``released``, ``locked``, ``expired``, ``ended``), ``meeting``, and as the event has them ``party``, ``seats``, ``roles``, ``reason``, ``tries`` |
| ``remote_meeting`` | ``event`` ``unavailable``, ``reason``: the meeting could not be opened (NEXT is refused ``remote_unavailable`` for the whole session) |
| ``remote_fault`` | ``party``, ``error``: a party's call or recording failed (NEXT refused ``remote_fault``) |

NEXT is refused ``remote_not_joined`` while a remote seat of the sale has no admitted party,
and ``remote_disconnected`` while an admitted party's call is not connected (it dropped, its
media stalled, it hung up); both clear by themselves when the party (re)joins.

The daemon imports this module always; PyAV, aiortc and the meeting host only when
:func:`remote_parts` builds the part (``[meet] enabled``).

Threading: the meeting host calls back on the MQTT bus's thread; admissions are carried to the
flow's thread with ``ctx.post``; the parties' faults come from their own threads. Records are
written from whichever thread, only while the session is open.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol

from firmware.ticket.model import TicketPerson
from firmware.unit.session.binding import Binding
from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.party_line import PartyLine

if TYPE_CHECKING:
    from drivers.audio import AudioBlock
    from firmware.unit.meet.bus import MeetingBus
    from firmware.unit.meet.meeting import MeetingEvent
    from firmware.unit.meet.signalling import Signalling
    from firmware.unit.remote import RemoteOptions

log = logging.getLogger(__name__)

TICK_NS = 1_000_000_000          # how often the host is asked to notice an expired code
MAX_ERROR = 200


@dataclass(frozen=True)
class MeetingSale:
    """What a meeting needs of the bound sale (what :meth:`MeetingHost.open` reads of a
    ticket): its id, the application's hash and its people in the ticket's order (the seats
    index them), each with whether they are remote."""

    ticket_id: str
    application_hash: str
    people: tuple[TicketPerson, ...]


def meeting_sale(binding: Binding) -> MeetingSale | None:
    """The sale of a ticket-bound ``binding`` that has remote people, or None. Built from what
    the binding carries: the ticket's record (no personal data) and ``people.json`` (the
    ticket's people, checked again by the ticket's own rules)."""
    ticket = binding.ticket
    if not ticket or not ticket.get("remote") or binding.people_json is None:
        return None
    data = json.loads(binding.people_json)
    people = tuple(TicketPerson.from_dict(c, f"people.json customers[{i}]")
                   for i, c in enumerate(data["customers"]))
    return MeetingSale(str(ticket["ticket_id"]), str(ticket["application_hash"]), people)


class Host(Protocol):
    """What the part needs of :class:`firmware.unit.meet.host.MeetingHost`."""

    def open(self, ticket: Any) -> Any: ...

    def tick(self) -> None: ...

    def end(self) -> None: ...

    def close(self) -> None: ...


class Media(Protocol):
    """What the part (and the parts that read :data:`REMOTE_PARTIES`) need of
    :class:`firmware.unit.remote.RemoteParty`."""

    @property
    def connected(self) -> bool: ...

    def start(self) -> None: ...

    def close(self) -> None: ...

    def listen(self, callback: Callable[["AudioBlock"], None]) -> Callable[[], None]: ...

    def latest_frame(self) -> Any: ...


#: ``ctx.values`` key: a :class:`RemoteParties` view for other parts (answers, ID photos)
REMOTE_PARTIES = "remote_parties"


@dataclass(frozen=True)
class RemoteSeated:
    """An admitted remote party: its id (``p1``...), the sale's people it holds (indexes into
    the ticket's people, as the meeting's seats) and its call."""

    party: str
    seats: tuple[int, ...]
    media: Media


class RemoteParties(Protocol):
    """What other session parts may read of the remote parties (from any thread)."""

    def admitted(self) -> tuple[RemoteSeated, ...]: ...

    def remote_seats(self) -> tuple[int, ...]: ...


MakeHost = Callable[..., Host]
"""``make_host(on_admit=, on_event=, on_error=)``: the meeting host, or None while the unit
has no MQTT connection to hold a meeting on."""
MakeParty = Callable[[str, Any, PartyLine, Any, Callable[[BaseException], None]], Media]
"""``make_party(session_id, info, line, feed, on_fault)``: a party's call (not started)."""


@dataclass
class _Remote:
    line: PartyLine
    media: Media
    seats: tuple[int, ...]


class RemotePartiesPart(SessionPart):
    name = "remote_parties"

    def __init__(self, make_host: MakeHost, make_party: MakeParty,
                 make_feed: Callable[[], Any], *,
                 sale_of: Callable[[Binding], MeetingSale | None] = meeting_sale) -> None:
        self._make_host, self._make_party, self._make_feed = make_host, make_party, make_feed
        self._sale_of = sale_of
        self._host: Host | None = None
        self._lock = threading.Lock()
        self._ctx: SessionContext | None = None
        self._feed: Any = None
        self._seats: tuple[int, ...] = ()
        self._remotes: dict[str, _Remote] = {}
        self._problem: str | None = None
        self._next_tick_ns = 0

    # -- what other parts read (ctx.values[REMOTE_PARTIES]) ----------------------------------
    def admitted(self) -> tuple[RemoteSeated, ...]:
        """The parties admitted so far in this session (connected or not), in joining order."""
        with self._lock:
            return tuple(RemoteSeated(p, r.seats, r.media) for p, r in self._remotes.items())

    def remote_seats(self) -> tuple[int, ...]:
        """The sale's remote seats of this session's meeting (empty: nobody is remote)."""
        with self._lock:
            return self._seats

    # -- the session ---------------------------------------------------------------------------
    def session_started(self, ctx: SessionContext) -> None:
        with self._lock:
            self._ctx, self._remotes, self._problem, self._seats = ctx, {}, None, ()
        ctx.values[REMOTE_PARTIES] = self
        try:
            sale = self._sale_of(ctx.binding)
        except ValueError as exc:        # people.json the ticket's rules refuse
            self._unavailable(ctx, f"the sale's people cannot be read: {exc}")
            return
        if sale is None:
            if ctx.binding.ticket and ctx.binding.ticket.get("remote"):
                self._unavailable(ctx, "the binding does not carry the sale's people")
            return
        host = self._meeting_host()
        if host is None:
            self._unavailable(ctx, "the unit has no connection to the meeting broker")
            return
        try:
            self._feed = self._make_feed()   # refuses a microphone rate Opus cannot take
            opened = host.open(sale)
        except Exception as exc:         # a meeting still open, a sale nobody is remote in
            self._unavailable(ctx, str(exc))
            return
        with self._lock:
            self._seats = tuple(opened.seats)

    def audio_block(self, block: "AudioBlock") -> None:
        """The microphone's blocks (its thread) to what remote parties hear of the counter."""
        feed = self._feed
        if feed is not None:
            feed.audio_block(block)

    def tick(self, ctx: SessionContext, node, now_ns: int) -> None:
        if self._host is not None and self._seats and now_ns >= self._next_tick_ns:
            self._next_tick_ns = now_ns + TICK_NS
            self._host.tick()

    def refusal(self, ctx: SessionContext, node, run, now_ns: int) -> str | None:
        with self._lock:
            if self._problem is not None:
                return self._problem
            seated = {s for r in self._remotes.values() for s in r.seats}
            remotes = list(self._remotes.values())
            missing = any(s not in seated for s in self._seats)
        if missing:
            return "remote_not_joined"
        if any(not r.media.connected for r in remotes):
            return "remote_disconnected"
        return None

    def session_ending(self, ctx: SessionContext) -> None:
        """Every call closed (its last segments sealed, its leaving recorded), then the
        meeting ended (a bye to every party, the back office told)."""
        with self._lock:
            remotes = list(self._remotes.values())
        for remote in remotes:
            remote.media.close()
        if self._host is not None and self._seats:
            self._host.end()
        with self._lock:
            self._ctx, self._feed, self._remotes, self._seats = None, None, {}, ()

    def close(self) -> None:
        with self._lock:
            remotes = list(self._remotes.values())
            self._ctx, self._remotes = None, {}
        for remote in remotes:
            remote.media.close()
        if self._host is not None:
            self._host.close()

    # -- the meeting host's callbacks (the bus's thread, or the flow's) ----------------------
    def _admitted(self, signalling: "Signalling") -> None:
        with self._lock:
            ctx = self._ctx
        if ctx is None:
            signalling.close()
            return
        ctx.post(lambda: self._connect(ctx, signalling))

    def _connect(self, ctx: SessionContext, signalling: "Signalling") -> None:
        """On the flow's thread: a new party's call started, or a party's new connection put
        behind its line."""
        info = signalling.info
        with self._lock:
            current = self._ctx is ctx
            remote = self._remotes.get(info.party) if current else None
        if not current:
            signalling.close()
            return
        if remote is None:
            line = PartyLine(info.party)
            media = self._make_party(ctx.session_id, info, line, self._feed,
                                     lambda exc, p=info.party: self._party_fault(p, exc))
            remote = _Remote(line, media, tuple(info.seats))
            with self._lock:
                self._remotes[info.party] = remote
            media.start()
        remote.line.attach(signalling)
        log.info("remote party %s %s (seats %s)", info.party,
                 "is back" if info.resumed else "joined", list(info.seats))

    def _meeting_event(self, event: "MeetingEvent") -> None:
        data = {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(event).items() if v or k == "meeting"}
        data["event"] = data.pop("kind")
        self._record("remote_meeting", data)
        if event.kind == "released":
            with self._lock:
                remote = self._remotes.pop(event.party, None)
                ctx = self._ctx
            if remote is not None and ctx is not None:   # its call ends; its seats are free
                ctx.post(remote.media.close)

    def _host_error(self, exc: Exception) -> None:
        log.error("remote meeting: %s", exc)

    def _party_fault(self, party: str, exc: BaseException) -> None:
        with self._lock:
            self._problem = "remote_fault"
        self._record("remote_fault", {"party": party, "error": repr(exc)[:MAX_ERROR]})

    # -- helpers -----------------------------------------------------------------------------
    def _meeting_host(self) -> Host | None:
        if self._host is None:
            self._host = self._make_host(on_admit=self._admitted, on_event=self._meeting_event,
                                         on_error=self._host_error)
        return self._host

    def _unavailable(self, ctx: SessionContext, reason: str) -> None:
        log.error("remote meeting unavailable: %s", reason)
        with self._lock:
            self._problem = "remote_unavailable"
        self._record("remote_meeting", {"event": "unavailable", "reason": reason[:MAX_ERROR]})
        ctx.signal("fault")

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        """An EVENT of the open session (dropped, logged, once it has ended)."""
        with self._lock:
            ctx = self._ctx
            if ctx is None:
                log.info("remote meeting: %s %s after the session ended", kind,
                         data.get("event", ""))
                return
            ctx.event(kind, data)


def remote_parts(config: Any, evidence: Any, clock: Any, *, camera: Any, microphone: Any,
                 bus: Callable[[], "MeetingBus | None"],
                 options: "RemoteOptions | None" = None) -> list[SessionPart]:
    """The remote parties' part when ``[meet] enabled`` (else nothing). ``bus()``: the MQTT
    connection the meeting is held on (the fleet agent's), None while there is none; asked
    at the first session with remote people. ``options``: the calls' settings (each party's
    ICE servers are the ones the meeting allows it)."""
    if not config.meet.enabled:
        return []
    from firmware.unit.meet.host import MeetingHost
    from firmware.unit.meet.settings import MeetingSettings
    from firmware.unit.remote import CounterFeed, IceServer, RemoteOptions, RemoteParty

    settings = MeetingSettings.from_config(config.meet)
    base = options or RemoteOptions()

    def make_host(**callbacks: Any) -> MeetingHost | None:
        got = bus()
        return None if got is None else MeetingHost(evidence.device_id, got, clock, settings,
                                                    **callbacks)

    def make_party(session_id: str, info: Any, line: PartyLine, feed: Any,
                   on_fault: Callable[[BaseException], None]) -> RemoteParty:
        ice = tuple(IceServer(tuple(s.urls), s.username or None, s.credential or None)
                    for s in info.ice_servers)
        return RemoteParty(evidence, clock, session_id, info.party, line, feed,
                           options=dataclasses.replace(base, ice_servers=ice),
                           on_fault=on_fault)

    def make_feed() -> CounterFeed:
        return CounterFeed(camera.analysis_frame, rate=microphone.rate,
                           channels=microphone.channels)

    return [RemotePartiesPart(make_host, make_party, make_feed)]
