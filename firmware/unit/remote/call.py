"""The loop side of a remote party's call: signalling in, connections (one :class:`Peer` at a
time: a new offer replaces the old connection), what they receive out to the media thread,
connection records and statistics. Everything here runs on the party's event loop, except
:meth:`Call.on_signal` (the transport's thread), which only checks the message and hands it on.

The party learns what it must show through its callbacks (on the loop thread):
``on_state(state, left=...)``, ``on_media(stream, frame, arrival_ns)``, ``on_lost(streams) ->
the ones that had started``, ``on_fault(exc)``, ``on_screen(event)`` (the screen channel of
the current connection, and ``closed`` for one that is replaced).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from drivers.clock import Clock
from firmware.unit.remote.connection_log import ConnectionLog
from firmware.unit.remote.counter_feed import CounterFeed
from firmware.unit.remote.ingest import AUDIO, VIDEO, PartyIngest
from firmware.unit.remote.loop_thread import EventLoopThread
from firmware.unit.remote.options import RemoteOptions
from firmware.unit.remote.peer import Peer
from firmware.unit.remote.rtp_timing import SenderReport
from firmware.unit.remote.screen_link import ScreenData, ScreenEvent
from firmware.unit.remote.signalling import BadSignal, Signalling, parse_message

log = logging.getLogger(__name__)

STREAMS = (VIDEO, AUDIO)


class Call:
    def __init__(self, party: str, *, loop: EventLoopThread, options: RemoteOptions,
                 feed: CounterFeed, clock: Clock, log_: ConnectionLog, ingest: PartyIngest,
                 signalling: Signalling, on_state: Callable[..., None],
                 on_media: Callable[[str, Any, int], None],
                 on_lost: Callable[[tuple[str, ...]], tuple[str, ...]],
                 on_fault: Callable[[BaseException], None],
                 on_screen: Callable[[ScreenEvent], None] | None = None) -> None:
        self.party = party
        self._loop = loop
        self._options = options
        self._feed = feed
        self._clock = clock
        self._log = log_
        self._ingest = ingest
        self._signalling = signalling
        self._on_state = on_state
        self._on_media = on_media
        self._on_lost = on_lost
        self._on_fault = on_fault
        self._on_screen = on_screen
        self.screen_dropped = 0      # batches not sent: no open channel, or too much unsent
        self._configuration = options.rtc_configuration()
        self._peer: Peer | None = None
        self._connections = 0
        self._joined: set[int] = set()
        self._codecs: dict[int, tuple[str | None, str | None]] = {}
        self._closing = False
        self._lock: asyncio.Lock | None = None

    def begin(self) -> None:
        """On the loop, once: the statistics task."""
        self._lock = asyncio.Lock()
        self._loop.spawn(self._statistics(), "stats")

    # -- signalling (transport thread, then the loop) ------------------------------------------
    def on_signal(self, message: Any) -> None:
        try:
            msg = parse_message(message)
        except BadSignal as exc:
            log.warning("remote party %s: signalling refused: %s", self.party, exc)
            self._log.refused(str(exc))
            return
        self._loop.call(self._dispatch, msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if self._closing:
            return
        kind = msg["type"]
        if kind == "offer":
            self._loop.spawn(self._offer(msg["sdp"]), "offer")
        elif kind == "candidate":
            self._loop.spawn(self._candidate(msg), "candidate")
        elif kind == "bye":
            self._loop.spawn(self._bye(msg["reason"]), "bye")
        else:
            self._log.refused("an answer, but the unit never offers")

    async def _offer(self, sdp: str) -> None:
        async with self._lock:
            if self._closing:
                return
            await self._retire(self._peer, "reconnected")
            self._connections += 1
            peer = Peer(self._connections, configuration=self._configuration,
                        feed=self._feed, clock=self._clock, events=self,
                        stall_s=self._options.stall_seconds, spawn=self._loop.spawn,
                        party=self.party)
            self._peer = peer
            self._on_state(peer.state, left=False)
            try:
                answer, audio_codec, video_codec = await peer.answer(sdp)
            except BadSignal as exc:
                log.warning("remote party %s: offer refused: %s", self.party, exc)
                self._log.refused(str(exc))
                self._peer = None
                await peer.close()
                self._on_state("none")
                return
            self._codecs[peer.number] = (audio_codec, video_codec)
            self._signalling.send({"type": "answer", "sdp": answer})

    async def _candidate(self, msg: dict[str, Any]) -> None:
        async with self._lock:
            peer = self._peer
            if peer is None or self._closing:
                self._log.refused("a candidate, but no offer to go with it")
                return
            try:
                await peer.add_candidate(msg)
            except BadSignal as exc:
                self._log.refused(str(exc))

    async def _bye(self, reason: str) -> None:
        async with self._lock:
            now = self._clock.monotonic_ns()
            self._log.left("bye")
            self._ingest.control("ended", now)
            self._on_lost(STREAMS)
            peer, self._peer = self._peer, None
            self._on_state("left", left=True)
            if peer is not None:
                await peer.close()
        log.info("remote party %s hung up%s", self.party, f": {reason}" if reason else "")

    async def _retire(self, peer: Peer | None, reason: str) -> None:
        """Close ``peer`` (the current one, replaced or failed); its streams are lost."""
        if peer is None:
            return
        if self._peer is peer:
            self._peer = None
        now = self._clock.monotonic_ns()
        for stream in self._on_lost(STREAMS):
            self._ingest.control("lost", stream, now, reason)
        await peer.close()

    async def shutdown(self) -> None:
        """The unit ends the call: a bye to the party, the connection closed; after it no
        frame reaches the media thread."""
        async with self._lock:
            self._closing = True
            try:
                self._signalling.send({"type": "bye", "reason": "the call has ended"})
            except Exception as exc:   # the connection's close tells the party too
                log.warning("remote party %s: could not send bye: %r", self.party, exc)
            peer, self._peer = self._peer, None
            if peer is not None:
                await peer.close()

    # -- statistics --------------------------------------------------------------------------
    async def _statistics(self) -> None:
        while True:
            await asyncio.sleep(self._options.stats_seconds)
            peer = self._peer
            if peer is not None and peer.state == "connected" and not self._closing:
                figures = await peer.stats()
                if peer is self._peer:
                    self._log.stats(peer.number, figures)

    # -- PeerEvents (the loop) -----------------------------------------------------------------
    def peer_state(self, peer: Peer, layer: str, state: str) -> None:
        if peer is not self._peer:
            return
        self._log.state(peer.number, layer, state)
        if layer != "connection":
            return
        if state == "connected" and peer.number not in self._joined:
            self._joined.add(peer.number)
            self._log.joined(peer.number, *self._codecs.get(peer.number, (None, None)),
                             candidates=peer.candidate_types(), gathered=peer.gathered)
        if state in ("disconnected", "failed", "closed"):
            now = self._clock.monotonic_ns()
            for stream in self._on_lost(STREAMS):
                self._ingest.control("lost", stream, now, f"connection_{state}")
        self._on_state(state)
        if state in ("failed", "closed"):
            self._loop.spawn(self._retire_failed(peer), "retire")

    async def _retire_failed(self, peer: Peer) -> None:
        async with self._lock:
            if self._peer is peer:
                self._peer = None
        await peer.close()

    def peer_media(self, peer: Peer, stream: str, frame: Any, arrival_ns: int,
                   rtp: int | None) -> None:
        if peer is not self._peer:
            return
        self._on_media(stream, frame, arrival_ns)
        self._ingest.media(stream, frame, arrival_ns, rtp, peer.number)

    def peer_stalled(self, peer: Peer, stream: str, at_ns: int) -> None:
        if peer is self._peer and self._on_lost((stream,)):
            self._ingest.control("lost", stream, at_ns, "stalled")

    def peer_track_ended(self, peer: Peer, stream: str, at_ns: int) -> None:
        if peer is self._peer and self._on_lost((stream,)):
            self._ingest.control("lost", stream, at_ns, "track_ended")

    def peer_report(self, peer: Peer, stream: str, report: SenderReport) -> None:
        if peer is self._peer:
            self._ingest.control("report", stream, report)

    def peer_failed(self, peer: Peer, exc: BaseException) -> None:
        self._on_fault(exc)

    def peer_screen(self, peer: Peer, event: ScreenEvent) -> None:
        """The screen channel's events: the current connection's, and the closing of one
        that was replaced (its messages no longer count)."""
        if self._on_screen is None or (peer is not self._peer and event.kind != "closed"):
            return
        self._on_screen(event)

    def send_screen(self, messages: tuple[ScreenData, ...]) -> None:
        """On the loop: ``messages`` to the current connection's screen channel, whole or not
        at all (counted in :attr:`screen_dropped`)."""
        peer = self._peer
        if peer is None or peer.screen is None or self._closing \
                or not peer.screen.send(messages):
            self.screen_dropped += 1
