"""One WebRTC connection of a remote party (aiortc's RTCPeerConnection), on the party's loop.

It answers the party's offer with the counter's picture and sound, and hands each decoded frame
it receives, stamped with CLOCK_MONOTONIC at arrival and its RTP timestamp, to the party
(:class:`PeerEvents`). A received stream that stops for ``stall_s`` (after its first frame) is
reported once as stalled; it resumes with the next frame.

Only what the offer holds is answered: at most one audio, one video and one data m-line
(anything more is refused: a second video track would pile up decoded frames nobody reads).
The answer prefers H.264 for video (the unit encodes it cheaply and records it in the same
codec) and takes only Opus for audio (48 kHz, what the recording keeps). An offer with a data
m-line gets the ``screen`` channel (:mod:`~firmware.unit.remote.screen_link`), negotiated on
both sides; its events go to the party (``peer_screen``). Its SCTP association is bounded
(:mod:`~firmware.unit.remote.sctp_guard`): when the guard aborts it, the channel reports the
reason (a ``refused`` event, then ``closed``) and the peer closes the whole connection, so the
party's call fails as a dropped one does (``connectionstatechange`` to ``closed``: its streams
lost, the party not connected) and its page must call again.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Coroutine, Protocol

from aiortc import (RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription)
from aiortc.exceptions import (InternalError, InvalidAccessError, InvalidStateError,
                               OperationError)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription, candidate_from_sdp

from drivers.clock import Clock
from firmware.unit.remote.counter_feed import CounterFeed
from firmware.unit.remote.rtp_timing import ReceiverTiming, SenderReport, attach
from firmware.unit.remote.screen_link import SCREEN_ID, ScreenEvent, ScreenLink
from firmware.unit.remote.sctp_guard import SctpAbort, SctpGuard
from firmware.unit.remote.signalling import BadSignal

log = logging.getLogger(__name__)

STREAMS = {"video": "remote_video", "audio": "remote_audio"}
_MLINES = {"audio": 1, "video": 1, "application": 1}


class PeerEvents(Protocol):
    """What a :class:`Peer` tells its party, on the loop thread."""

    def peer_state(self, peer: "Peer", layer: str, state: str) -> None: ...

    def peer_media(self, peer: "Peer", stream: str, frame: Any, arrival_ns: int,
                   rtp: int | None) -> None: ...

    def peer_stalled(self, peer: "Peer", stream: str, at_ns: int) -> None: ...

    def peer_track_ended(self, peer: "Peer", stream: str, at_ns: int) -> None: ...

    def peer_report(self, peer: "Peer", stream: str, report: SenderReport) -> None: ...

    def peer_failed(self, peer: "Peer", exc: BaseException) -> None: ...

    def peer_screen(self, peer: "Peer", event: ScreenEvent) -> None: ...


#: starts a background task whose exception reaches the owner (``EventLoopThread.spawn``)
Spawn = Callable[[Coroutine[Any, Any, None], str], asyncio.Task]


def check_offer(sdp: str) -> list[str]:
    """The offer's media kinds in m-line order; BadSignal for more m-lines than the unit
    answers."""
    counts: dict[str, int] = {}
    kinds = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split(" ", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
            kinds.append(kind)
    for kind, count in counts.items():
        if count > _MLINES.get(kind, 0):
            raise BadSignal(f"offer has {count} m-line(s) of kind {kind[:20]!r}; the unit "
                            f"answers at most {_MLINES.get(kind, 0)}")
    if not counts:
        raise BadSignal("offer has no m-line: nothing to answer")
    return kinds


def _preferred(kind: str) -> list:
    codecs = RTCRtpSender.getCapabilities(kind).codecs
    if kind == "audio":
        return [c for c in codecs if c.mimeType.lower() == "audio/opus"]
    order = {"video/h264": 0, "video/vp8": 1, "video/rtx": 2}
    return sorted((c for c in codecs if c.mimeType.lower() in order),
                  key=lambda c: order[c.mimeType.lower()])


class Peer:
    """Connection number ``number`` of a party; every method runs on the party's loop."""

    def __init__(self, number: int, *, configuration: RTCConfiguration, feed: CounterFeed,
                 clock: Clock, events: PeerEvents, stall_s: float, spawn: Spawn,
                 party: str = "") -> None:
        self.number = number
        self.party = party
        self.screen: ScreenLink | None = None
        self.sctp_guard: SctpGuard | None = None
        self.gathered: dict[str, int] = {}   # the unit's candidates in its answer, by type
        self._spawn = spawn
        self._clock = clock
        self._events = events
        self._feed = feed
        self._stall_s = stall_s
        self._pc = RTCPeerConnection(configuration)
        self._consumers: list[asyncio.Task] = []
        self._timings: dict[str, ReceiverTiming] = {}
        self._closing = False
        self._last_bytes: tuple[float, int, int] | None = None   # time, rx, tx
        self._pc.on("connectionstatechange", self._connection_state)
        self._pc.on("iceconnectionstatechange", self._ice_state)
        self._pc.on("track", self._track)

    @property
    def state(self) -> str:
        return self._pc.connectionState

    @property
    def ice_state(self) -> str:
        return self._pc.iceConnectionState

    def _connection_state(self) -> None:
        if not self._closing:
            self._events.peer_state(self, "connection", self._pc.connectionState)

    def _ice_state(self) -> None:
        if not self._closing:
            self._events.peer_state(self, "ice", self._pc.iceConnectionState)

    async def answer(self, offer_sdp: str) -> tuple[str, str | None, str | None]:
        """The answer's SDP and the audio and video codecs it chose; BadSignal for an offer
        the unit refuses (aiortc's own parse errors included)."""
        # the transceivers exist before the offer is applied: that is when aiortc picks the
        # codecs, from the preferences set here
        kinds = check_offer(offer_sdp)
        for kind in kinds:
            if kind in ("audio", "video"):
                track: MediaStreamTrack = (self._feed.audio_track() if kind == "audio"
                                           else self._feed.video_track())
                self._pc.addTransceiver(track, direction="sendrecv").setCodecPreferences(
                    _preferred(kind))
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except (ValueError, KeyError, IndexError, AssertionError, TypeError, InternalError,
                InvalidAccessError, InvalidStateError, OperationError) as exc:
            raise BadSignal(f"offer could not be used: {type(exc).__name__}: {exc}"[:300]) \
                from exc
        if "application" in kinds:    # on the offer's SCTP transport, before the answer
            self.screen = ScreenLink(self._pc, self.party, self.number, self._clock,
                                     lambda event: self._events.peer_screen(self, event))
            # before the answer: the association must not have started (its window is set)
            self.sctp_guard = SctpGuard(self._pc.sctp, streams=(SCREEN_ID,), clock=self._clock,
                                        on_abort=self._sctp_aborted)
        answer = await self._pc.createAnswer()
        await self._pc.setLocalDescription(answer)
        sdp = self._pc.localDescription.sdp
        chosen: dict[str, str | None] = {"audio": None, "video": None}
        parsed = SessionDescription.parse(sdp)
        for media in parsed.media:
            if media.kind in chosen and media.rtp.codecs:
                chosen[media.kind] = media.rtp.codecs[0].mimeType
        if parsed.media:           # bundled: every m-line lists the same candidates
            for candidate in parsed.media[0].ice_candidates:
                self.gathered[candidate.type] = self.gathered.get(candidate.type, 0) + 1
        return sdp, chosen["audio"], chosen["video"]

    def _sctp_aborted(self, abort: SctpAbort) -> None:
        """The guard aborted the association: the channel says why, the connection closes
        (its ``closed`` state reaches the party as a drop's does)."""
        log.warning("remote party %s, connection %d: %s; closing the connection", self.party,
                    self.number, abort)
        if self.screen is not None:
            self.screen.abort(str(abort))
        if not self._closing:
            self._spawn(self._pc.close(), f"peer{self.number}-sctp-abort")

    def candidate_types(self) -> tuple[str | None, str | None]:
        """The types (``host``, ``srflx``, ``prflx``, ``relay``) of the unit's and the
        party's candidate in the pair ICE nominated: whether the call came through a TURN
        server. aiortc 1.16 has no public getter and its stats no candidate-pair report, so
        this reads the bundle's RTCIceTransport's aioice 0.13 ``Connection._nominated``
        (component 1); anything else than that shape gives ``(None, None)``."""
        try:
            transceivers = self._pc.getTransceivers()
            dtls = transceivers[0].receiver.transport if transceivers else self._pc.sctp.transport
            pair = dtls.transport._connection._nominated.get(1)
            return str(pair.local_candidate.type), str(pair.remote_candidate.type)
        except (AttributeError, IndexError, TypeError):
            return None, None

    async def add_candidate(self, message: dict) -> None:
        """A trickled candidate of the party (``""``: no more)."""
        line = message["candidate"]
        if not line:
            await self._pc.addIceCandidate(None)
            return
        try:
            candidate = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:")
                                           else line)
        except (ValueError, IndexError, AssertionError) as exc:
            raise BadSignal(f"candidate {line[:80]!r} is not an ICE candidate line") from exc
        candidate.sdpMid = message["sdpMid"]
        candidate.sdpMLineIndex = message["sdpMLineIndex"]
        await self._pc.addIceCandidate(candidate)

    def _track(self, track: MediaStreamTrack) -> None:
        stream = STREAMS.get(track.kind)
        if stream is None or stream in self._timings:
            return     # check_offer lets no second one through
        try:
            receiver = next(t.receiver for t in self._pc.getTransceivers()
                            if t.receiver.track is track)
            self._timings[stream] = attach(
                receiver, self._clock,
                lambda report: self._events.peer_report(self, stream, report))
        except Exception as exc:   # inside aiortc's event: hand it to the party
            self._events.peer_failed(self, exc)
            return
        self._consumers.append(self._spawn(self._consume(stream, track),
                                           f"peer{self.number}-{stream}"))

    async def _consume(self, stream: str, track: MediaStreamTrack) -> None:
        timing = self._timings[stream]
        stalled, started = False, False
        while True:
            try:
                if started:
                    frame = await asyncio.wait_for(track.recv(), self._stall_s)
                else:
                    frame = await track.recv()
            except asyncio.TimeoutError:
                if not stalled and not self._closing:
                    stalled = True
                    self._events.peer_stalled(self, stream, self._clock.monotonic_ns())
                continue
            except MediaStreamError:
                if not self._closing:
                    self._events.peer_track_ended(self, stream, self._clock.monotonic_ns())
                return
            arrival = self._clock.monotonic_ns()
            started, stalled = True, False
            if not self._closing:
                self._events.peer_media(self, stream, frame, arrival,
                                        timing.rtp_timestamp(frame.pts))

    async def stats(self) -> dict[str, Any]:
        """Round-trip time, loss, jitter and bit rates since the last call (integers only)."""
        report = await self._pc.getStats()
        figures: dict[str, Any] = {"rtt_us": None}
        rtts, rx, tx = [], 0, 0
        for item in report.values():
            kind = getattr(item, "type", None)
            if kind == "inbound-rtp":
                rate = 90_000 if item.kind == "video" else 48_000
                figures[item.kind] = {"packets_received": int(item.packetsReceived),
                                      "packets_lost": int(item.packetsLost),
                                      "jitter_us": int(item.jitter) * 1_000_000 // rate}
            elif kind == "remote-inbound-rtp" and item.roundTripTime is not None:
                rtts.append(float(item.roundTripTime))
            elif kind == "transport":
                rx += int(item.bytesReceived)
                tx += int(item.bytesSent)
        if rtts:
            figures["rtt_us"] = int(min(rtts) * 1e6)
        now = time.monotonic()
        if self._last_bytes is not None and now > self._last_bytes[0]:
            span = now - self._last_bytes[0]
            figures["interval_ms"] = int(span * 1000)
            figures["rx_kbps"] = int((rx - self._last_bytes[1]) * 8 / span / 1000)
            figures["tx_kbps"] = int((tx - self._last_bytes[2]) * 8 / span / 1000)
        else:
            figures.update(interval_ms=0, rx_kbps=0, tx_kbps=0)
        self._last_bytes = (now, rx, tx)
        return figures

    async def close(self) -> None:
        """Close the connection (RTCP BYE and DTLS close to the party) and wait until no
        frame of it can arrive any more. Safe twice."""
        if self._closing:
            return
        self._closing = True
        if self.screen is not None:
            self.screen.close()
        await self._pc.close()
        consumers, self._consumers = self._consumers, []
        for task in consumers:
            task.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)
