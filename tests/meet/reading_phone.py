"""A remote party's phone that reads and signs (not collected): the join page of
:class:`~tests.meet.remote_phone.Phone` (its WebSocket to a relay: code, identity, signalling),
and a call of its own (aiortc: the astronaut's face, a tone, and the negotiated ``screen`` data
channel, as the browser's call script makes it). What the unit sends on the channel is kept
(views, page pictures put together from their chunks, refusals), and every wait is on a
message, bounded.
"""
from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from aiortc import (RTCConfiguration, RTCDataChannel, RTCPeerConnection,
                    RTCSessionDescription)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from firmware.unit.remote.loop_thread import EventLoopThread
from tests.meet.remote_phone import Phone
from tests.remote.remote_rig import FaceTrack, WavTrack

WAIT = 30.0


@dataclass
class Picture:
    """A page picture as it arrived: the header, the PNG, and how long it took from the
    request to its last chunk (s, the phone's clock)."""

    header: dict
    png: bytes
    seconds: float


class ReadingPhone:
    """``join`` by code and identity, ``call`` (a new connection each time: the unit replaces
    the old one), then read and sign over the screen channel; ``drop`` closes the connection
    as a dead network or a closed tab would."""

    def __init__(self, relay_url: str, meeting: str, wav: Path) -> None:
        self.page = Phone(relay_url, meeting, wav)
        self.errors: list[BaseException] = []
        self._loop = EventLoopThread("reading-phone", self.errors.append)
        self._loop.start()
        self._cond = threading.Condition()
        self.messages: list[dict] = []           # every JSON message of the unit, in order
        self.pictures: dict[int, Picture] = {}
        self._pending: dict[int, tuple[dict, dict[int, bytes], float]] = {}
        self._asked: dict[int, float] = {}
        self._requests = 0
        self.received = {"video": 0, "audio": 0}
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None

    # -- joining and calling -----------------------------------------------------------------
    def join(self, code: str, seats: list[int], name: str, id_last4: str) -> dict:
        return self.page.join(code, seats, name, id_last4)

    def call(self) -> None:
        """A new connection with the screen channel, offered through the page; returns once
        the channel is open."""
        self.drop()
        mark = len(self.page.frames)
        opened = threading.Event()
        sdp = self._loop.run(self._offer(opened), WAIT)
        self.page.ask(type="signal", signal={"kind": "offer", "sdp": sdp})
        answer = self.page.wait_frame(lambda f: f["type"] == "signal"
                                      and f["signal"]["kind"] == "answer", after=mark,
                                      page=self.page.page)
        self._loop.run(self._pc.setRemoteDescription(
            RTCSessionDescription(answer["signal"]["sdp"], "answer")), WAIT)
        assert opened.wait(WAIT), "the screen channel did not open"

    async def _offer(self, opened: threading.Event) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pc = pc
        for track in (FaceTrack(), WavTrack(self.page.wav)):
            pc.addTrack(track)
        channel = pc.createDataChannel("screen", negotiated=True, id=0)
        self._channel = channel
        channel.on("open", opened.set)
        channel.on("message", self._message)
        pc.on("track", lambda track: self._loop.spawn(self._eat(track), "eat"))
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp

    async def _eat(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            with self._cond:
                self.received[track.kind] += 1

    def drop(self) -> None:
        """Close the connection (nothing more leaves or arrives)."""
        pc, self._pc, self._channel = self._pc, None, None
        if pc is not None:
            self._loop.run(pc.close(), WAIT)

    # -- what the unit sends ---------------------------------------------------------------
    def _message(self, data: str | bytes) -> None:
        with self._cond:
            if isinstance(data, bytes):
                request, index = struct.unpack(">II", data[:8])
                header, chunks, _ = self._pending[request]
                chunks[index] = data[8:]
                if len(chunks) == header["chunks"]:
                    png = b"".join(chunks[i] for i in range(header["chunks"]))
                    del self._pending[request]
                    self.pictures[request] = Picture(
                        header, png, time.perf_counter() - self._asked[request])
            else:
                message = json.loads(data)
                self.messages.append(message)
                if message["type"] == "image":
                    self._pending[message["request"]] = (message, {}, 0.0)
            self._cond.notify_all()

    def wait_message(self, predicate: Callable[[dict], bool], after: int = 0,
                     what: str = "a message") -> dict:
        def found() -> dict | None:
            return next((m for m in self.messages[after:] if predicate(m)), None)
        with self._cond:
            assert self._cond.wait_for(lambda: found() is not None, WAIT), \
                f"no {what}; got {[m.get('type') for m in self.messages[after:]]}"
            return found()

    def wait_view(self, predicate: Callable[[dict], bool], what: str = "a view") -> dict:
        """The newest view once it satisfies ``predicate`` (views after it replace it)."""
        with self._cond:
            def latest() -> dict | None:
                views = [m for m in self.messages if m["type"] == "view"]
                return views[-1] if views and predicate(views[-1]) else None
            assert self._cond.wait_for(lambda: latest() is not None, WAIT), \
                f"no {what}; last view: {[m for m in self.messages if m['type'] == 'view'][-1:]}"
            return latest()

    @property
    def mark(self) -> int:
        with self._cond:
            return len(self.messages)

    # -- what the party does -----------------------------------------------------------------
    def send(self, message: Any) -> None:
        """A message as is: a dict as JSON, or text or bytes."""
        data = json.dumps(message) if isinstance(message, dict) else message
        self._loop.call(self._channel.send, data)

    def turn(self, document: str, page: int) -> None:
        self.send({"type": "page", "document": document, "page": page})

    def fetch(self, document: str, page: int, width: int) -> Picture:
        """Ask for the page's picture and wait for all of it (its SHA-256 checked)."""
        with self._cond:
            self._requests += 1
            request = self._requests
            self._asked[request] = time.perf_counter()
        self.send({"type": "image", "request": request, "document": document, "page": page,
                   "width": width})
        with self._cond:
            assert self._cond.wait_for(lambda: request in self.pictures, WAIT), \
                "the page's picture did not arrive"
            picture = self.pictures[request]
        assert hashlib.sha256(picture.png).hexdigest() == picture.header["sha256"]
        assert picture.png.startswith(b"\x89PNG")
        return picture

    def shown(self, document: str, page: int) -> None:
        self.send({"type": "shown", "document": document, "page": page})

    def read(self, document: str) -> None:
        self.send({"type": "read", "document": document})

    def sign(self, node: str, strokes: list[list[tuple[int, int, int]]], width: int = 360,
             height: int = 180) -> None:
        """``strokes``: lists of (t_ms, x, y)."""
        self.send({"type": "signature", "node": node, "width": width, "height": height,
                   "strokes": [{"t": [p[0] for p in s], "x": [p[1] for p in s],
                                "y": [p[2] for p in s]} for s in strokes]})

    def close(self) -> None:
        self.drop()
        self._loop.close()
        self.page.close()
