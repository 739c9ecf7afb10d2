"""A remote party's phone for the session tests (not collected): the join page's WebSocket to
a relay (aiohttp) and the call (aiortc, sending the astronaut's face and a tone), on an event
loop of its own, as a browser would run them. Every wait is on a frame or an event, bounded.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from firmware.unit.remote.loop_thread import EventLoopThread
from tests.remote.remote_rig import FaceTrack, WavTrack

WAIT = 30.0


class Phone:
    """One remote party: :meth:`join` by code and identity, :meth:`call`, :meth:`go_silent`
    (the network drops: nothing more leaves the phone), :meth:`come_back` (a new page with
    the resume token, a new call)."""

    def __init__(self, relay_url: str, meeting: str, wav: Path) -> None:
        self.relay_url, self.meeting, self.wav = relay_url, meeting, wav
        self.errors: list[BaseException] = []
        self._loop = EventLoopThread("phone", self.errors.append)
        self._loop.start()
        self._cond = threading.Condition()
        self.frames: list[tuple[int, dict]] = []   # (page, frame) of every page, in order
        self.received = {"video": 0, "audio": 0}
        self.token: str | None = None
        self._pages: list[tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]] = []
        self._pc: RTCPeerConnection | None = None
        self._tracks: list[Any] = []

    # -- the page ----------------------------------------------------------------------------
    def _open_page(self) -> int:
        mark = len(self.frames)
        self._loop.run(self._connect(), WAIT)
        self.wait_frame(lambda f: f["type"] == "meeting", after=mark, page=self.page)
        return mark

    async def _connect(self) -> None:
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(f"{self.relay_url}/ws/{self.meeting}")
        self._pages.append((session, ws))
        self._loop.spawn(self._read(len(self._pages) - 1, ws), "page")

    @property
    def page(self) -> int:
        """The newest page (0, 1, ...)."""
        return len(self._pages) - 1

    async def _read(self, page: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            with self._cond:
                self.frames.append((page, json.loads(msg.data)))
                self._cond.notify_all()

    def _send(self, **frame: Any) -> None:
        ws = self._pages[-1][1]
        self._loop.run(ws.send_json(frame), WAIT)

    def ask(self, **frame: Any) -> dict:
        mark = len(self.frames)
        self._send(**frame)
        return self.wait_frame(lambda f: f["type"] != "meeting", after=mark, page=self.page)

    def wait_frame(self, predicate: Callable[[dict], bool], after: int = 0,
                   page: int | None = None) -> dict:
        """The first frame from ``after`` on (of ``page``, or any) that ``predicate`` takes."""
        def found() -> dict | None:
            return next((f for p, f in self.frames[after:]
                         if (page is None or p == page) and predicate(f)), None)
        with self._cond:
            assert self._cond.wait_for(lambda: found() is not None, WAIT), \
                f"no such frame; got {self.frames[after:]!r:.1500}"
            return found()

    def join(self, code: str, seats: list[int], name: str, id_last4: str) -> dict:
        self._open_page()
        choices = self.ask(type="code", code=code)
        assert choices["type"] == "choices", choices
        admitted = self.ask(type="identify", seats=seats, name=name, id_last4=id_last4)
        assert admitted["type"] == "admitted", admitted
        self.token = admitted["token"]
        return admitted

    def come_back(self) -> dict:
        """A new page resumes with the token (the old page is told ``replaced``), then a new
        call on a new connection."""
        self._open_page()
        back = self.ask(type="resume", token=self.token)
        assert back["type"] == "admitted", back
        self.token = back["token"]
        self.call()
        return back

    # -- the call ----------------------------------------------------------------------------
    def call(self) -> None:
        """Offer a new connection through the page; apply the unit's answer."""
        self._drop_pc()
        mark = len(self.frames)
        sdp = self._loop.run(self._offer(), WAIT)
        self._send(type="signal", signal={"kind": "offer", "sdp": sdp})
        answer = self.wait_frame(lambda f: f["type"] == "signal"
                                 and f["signal"]["kind"] == "answer", after=mark,
                                 page=self.page)
        self._loop.run(self._pc.setRemoteDescription(
            RTCSessionDescription(answer["signal"]["sdp"], "answer")), WAIT)

    async def _offer(self) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pc = pc
        self._tracks = [FaceTrack(), WavTrack(self.wav)]
        for track in self._tracks:
            pc.addTrack(track)
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
                self._cond.notify_all()

    def wait_received(self, video: int, audio: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.received["video"] >= video
                                       and self.received["audio"] >= audio, WAIT), \
                f"the counter did not arrive: {self.received}"

    def go_silent(self) -> None:
        """The phone's network drops: no packet of either stream leaves it any more."""
        for track in self._tracks:
            self._loop.loop.call_soon_threadsafe(track.running.clear)

    def _drop_pc(self) -> None:
        pc, self._pc = self._pc, None
        if pc is not None:
            self._loop.run(pc.close(), WAIT)

    def close(self) -> None:
        self._drop_pc()
        for session, ws in self._pages:
            self._loop.run(ws.close(), WAIT)
            self._loop.run(session.close(), WAIT)
        self._pages.clear()
        self._loop.close()
