"""A remote party's side with the negotiated ``screen`` channel (not collected): the rig's
:class:`~tests.remote.remote_rig.BrowserPeer`, with or without media, that can behave as a page
should (messages within the bounds) or as a hostile client: raise its own view of the unit's
maximum message size, or write DATA chunks of its own through its SCTP transport (fragments
that never end, messages behind a gap, a stream the unit has no channel on).

Every wait is on an event: a chunk from the unit (its SACK, its ABORT) or the channel's state.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSctpTransport
from aiortc.rtcsctptransport import (SCTP_DATA_FIRST_FRAG, SCTP_DATA_LAST_FRAG, Chunk,
                                     DataChunk)
from aiortc.utils import uint32_gte

from .remote_rig import WAIT, BrowserPeer, FaceTrack, WavTrack

if TYPE_CHECKING:
    from tests.meet.reading_phone import ReadingPhone

WEBRTC_BINARY = 53          # the PPID of a binary message (RFC 8831)
FULL_CHUNK = 1100           # about what aiortc puts in one DATA chunk


@dataclass(frozen=True)
class Flood:
    """What a hostile send put on the wire until the unit aborted (or it gave up):
    ``chunks``, ``bytes`` of user data, ``first_ns`` when its first chunk left (on the
    peer's ``now_ns``), ``aborted`` whether the unit's ABORT arrived."""

    chunks: int
    bytes: int
    first_ns: int
    aborted: bool


class ScreenPeer(BrowserPeer):
    """``join()`` offers the screen channel (and the face and the tone if ``media``);
    ``now_ns``: the clock its figures are on (the unit's, to compare with its events)."""

    def __init__(self, signalling, wav: Path, *, media: bool,
                 now_ns: Callable[[], int] = time.monotonic_ns) -> None:
        super().__init__(signalling, wav)
        self._media = media
        self._now_ns = now_ns
        self.channel: RTCDataChannel | None = None
        self.opened = threading.Event()
        self.closed = threading.Event()
        self._heard: asyncio.Event | None = None

    async def _offer(self) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        if self._media:
            self.tracks = [FaceTrack(), WavTrack(self._wav)]
            for track in self.tracks:
                pc.addTrack(track)
        channel = pc.createDataChannel("screen", negotiated=True, id=0)
        channel.on("open", self.opened.set)
        channel.on("close", self.closed.set)
        self.channel = channel
        pc.on("track", lambda track: self._loop.spawn(self._eat(track), "eat"))
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp

    def wait_open(self) -> None:
        assert self.opened.wait(WAIT), "the screen channel did not open"

    def wait_closed(self) -> None:
        assert self.closed.wait(WAIT), "the unit did not close the screen channel"

    # -- a page that keeps to the bounds -------------------------------------------------------
    def send(self, *messages: str | bytes) -> None:
        self._loop.run(self._send(messages), WAIT)

    async def _send(self, messages: tuple[str | bytes, ...]) -> None:
        for message in messages:
            self.channel.send(message)

    # -- a hostile client ----------------------------------------------------------------------
    def send_oversized(self, size: int) -> int:
        """One binary message of ``size`` bytes, whatever the unit said it takes; when it
        started leaving (``now_ns``)."""
        return self._loop.run(self._send_oversized(size), WAIT)

    async def _send_oversized(self, size: int) -> int:
        self.pc.sctp._remote_max_message_size = 0        # aiortc: 0 is "any size"
        started = self._now_ns()
        self.channel.send(b"\xa5" * size)
        return started

    def flood(self, chunks: list[tuple[int, int, int, bytes]], burst: int = 16) -> Flood:
        """Write raw DATA chunks (flags, stream id, stream sequence, user data), each with the
        next TSN, ``burst`` at a time, each burst once the unit has acknowledged the one
        before, until the unit's ABORT arrives or they are all sent."""
        return self._loop.run(self._flood(chunks, burst), WAIT * 4)

    async def _flood(self, chunks: list[tuple[int, int, int, bytes]], burst: int) -> Flood:
        sctp: RTCSctpTransport = self.pc.sctp
        heard = asyncio.Event()
        receive = sctp._receive_chunk

        async def hear(chunk: Chunk) -> None:      # every chunk the unit sends wakes us
            await receive(chunk)
            heard.set()
        sctp._receive_chunk = hear
        first_ns = self._now_ns()
        sent = size = 0
        last_tsn = None
        while sent < len(chunks) and sctp.state != "closed":
            for flags, stream_id, seq, data in chunks[sent:sent + burst]:
                chunk = DataChunk(flags=flags)
                chunk.tsn, chunk.stream_id, chunk.stream_seq = sctp._local_tsn, stream_id, seq
                chunk.protocol, chunk.user_data = WEBRTC_BINARY, data
                last_tsn, sctp._local_tsn = chunk.tsn, (chunk.tsn + 1) % 2 ** 32
                await sctp._send_chunk(chunk)
                sent, size = sent + 1, size + len(data)
            while sctp.state != "closed" and not uint32_gte(sctp._last_sacked_tsn, last_tsn):
                heard.clear()
                await asyncio.wait_for(heard.wait(), WAIT)
        return Flood(sent, size, first_ns, sctp.state == "closed")


def unending_message(total: int, stream_seq: int = 0) -> list[tuple[int, int, int, bytes]]:
    """Fragments of one message on stream 0 adding up to ``total`` bytes, none of them the
    last."""
    count = -(-total // FULL_CHUNK)
    return [(SCTP_DATA_FIRST_FRAG if i == 0 else 0, 0, stream_seq, b"\x5a" * FULL_CHUNK)
            for i in range(count)]


def messages_behind_a_gap(count: int, size: int, first_seq: int = 1) -> list[tuple[int, int,
                                                                                    int, bytes]]:
    """Whole ordered messages on stream 0 numbered from ``first_seq``: with the stream's
    sequence number still at 0, none can be delivered."""
    whole = SCTP_DATA_FIRST_FRAG | SCTP_DATA_LAST_FRAG
    return [(whole, 0, first_seq + i, b"\x3c" * size) for i in range(count)]


def send_oversized_from(phone: "ReadingPhone", size: int) -> None:
    """The session tests' reading phone turned hostile: one binary message of ``size`` bytes
    on its screen channel, whatever the unit said it takes (its private call, reached into:
    a hostile page is not one of its behaviours)."""
    async def send() -> None:
        phone._pc.sctp._remote_max_message_size = 0
        phone._channel.send(b"\xa5" * size)
    phone._loop.run(send(), WAIT)
