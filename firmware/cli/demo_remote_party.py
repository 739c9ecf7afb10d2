"""The remote party of ``dualrec demo --remote`` as a Python WebRTC peer: the join page's
WebSocket to the relay (aiohttp), the same frames join.js sends (code, then seats, name and the
ID number's last 4), and the call (aiortc): a camera that shows a face (or the party's ID card
when asked), a microphone that is quiet until the party answers, the counter's picture and
sound received, and the ``screen`` data channel on which the party signs when the unit asks.

Everything runs on one event loop thread; the demo's thread calls in with bounded waits. Every
wait is on a frame or an event, never a timer; :meth:`AiortcParty.close` is safe twice.
"""
from __future__ import annotations

import asyncio
import fractions
import json
import logging
import threading
from typing import Any, Callable

import aiohttp
import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from firmware.cli.demo_remote_media import RATE, SIGNATURE_CANVAS, finger_signature
from firmware.errors import DualrecError
from firmware.unit.remote.loop_thread import EventLoopThread

log = logging.getLogger(__name__)

WAIT_S = 30.0                   # the longest one step of the page or the call may take
FPS = 15                        # the phone's camera (a Pi's unit decodes and re-encodes it)
FRAME_SAMPLES = RATE // 50      # 20 ms of sound per audio frame, as browsers send


class RemotePartyError(DualrecError, RuntimeError):
    """The party could not join or call (the message says at which step and why)."""


class PictureTrack(MediaStreamTrack):
    """The phone's camera: one BGR picture at :data:`FPS`, changed with :meth:`show` (on the
    loop's thread)."""

    kind = "video"

    def __init__(self, bgr: np.ndarray) -> None:
        super().__init__()
        self._bgr = bgr
        self._start: float | None = None
        self._count = 0

    def show(self, bgr: np.ndarray) -> None:
        self._bgr = bgr

    async def recv(self) -> av.VideoFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._count += 1
            await asyncio.sleep(max(0.0, self._start + self._count / FPS - loop.time()))
        frame = av.VideoFrame.from_ndarray(self._bgr, format="bgr24")
        frame.pts = self._count * (90_000 // FPS)
        frame.time_base = fractions.Fraction(1, 90_000)
        return frame


class VoiceTrack(MediaStreamTrack):
    """The phone's microphone: a quiet room, and what :meth:`say` is given (int16 at 48 kHz,
    on the loop's thread) played once, in 20 ms frames."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pending = np.zeros(0, "<i2")
        self._start: float | None = None
        self._count = 0

    def say(self, pcm: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, np.asarray(pcm, "<i2")])

    async def recv(self) -> av.AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._count += 1
            await asyncio.sleep(max(0.0, self._start + self._count * 0.02 - loop.time()))
        chunk = self._pending[:FRAME_SAMPLES]
        self._pending = self._pending[FRAME_SAMPLES:]
        if chunk.size < FRAME_SAMPLES:
            chunk = np.concatenate([chunk, np.zeros(FRAME_SAMPLES - chunk.size, "<i2")])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._count * FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


class AiortcParty:
    """One remote party at ``relay_url`` for ``meeting``; its camera shows ``picture``."""

    kind = "aiortc"

    def __init__(self, relay_url: str, meeting: str, *, picture: np.ndarray) -> None:
        self.relay_url, self.meeting = relay_url, meeting
        self.errors: list[BaseException] = []
        self.frames: list[dict[str, Any]] = []
        self.received = {"video": 0, "audio": 0}
        self.signed: list[str] = []           # the nodes the party signed on its phone
        self._cond = threading.Condition()
        self._loop = EventLoopThread("demo-remote-party", self._failed)
        self._picture = PictureTrack(picture)
        self._voice = VoiceTrack()
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pc: RTCPeerConnection | None = None
        self._started = self._closed = False

    def _failed(self, exc: BaseException) -> None:
        log.error("the demo's remote party: %r", exc)
        with self._cond:
            self.errors.append(exc)
            self._cond.notify_all()

    # -- the page ------------------------------------------------------------------------------
    def join(self, code: str, seats: list[int], name: str, id_last4: str) -> dict[str, Any]:
        """Open the page's WebSocket, give the code, take ``seats`` as ``name`` with the ID
        number's last 4, then call the unit; the relay's ``admitted`` frame."""
        self._loop.start()
        self._started = True
        self._loop.run(self._open(), WAIT_S)
        self._next_frame(0, lambda f: f["type"] == "meeting", "the meeting's state")
        choices = self._ask("code", {"type": "code", "code": code})
        if choices["type"] != "choices":
            raise RemotePartyError(f"the code was refused: {choices.get('reason', choices)}")
        admitted = self._ask("identify", {"type": "identify", "seats": seats, "name": name,
                                          "id_last4": id_last4})
        if admitted["type"] != "admitted":
            raise RemotePartyError(f"who the party is was refused: "
                                   f"{admitted.get('reason', admitted)}")
        self._call()
        return admitted

    async def _open(self) -> None:
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(f"{self.relay_url}/ws/{self.meeting}",
                                               max_msg_size=1 << 20)
        self._loop.spawn(self._read(self._ws), "page")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            with self._cond:
                self.frames.append(json.loads(msg.data))
                self._cond.notify_all()
        with self._cond:
            self.frames.append({"type": "<closed>"})
            self._cond.notify_all()

    def _next_frame(self, after: int, predicate: Callable[[dict], bool], what: str) -> dict:
        def found() -> dict | None:
            return next((f for f in self.frames[after:] if predicate(f)), None)
        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None or self.errors, WAIT_S):
                raise RemotePartyError(f"the relay sent no {what} in {WAIT_S:g} s")
            if self.errors:
                raise RemotePartyError(f"the party failed: {self.errors[0]!r}")
            return found()   # type: ignore[return-value]

    def _ask(self, step: str, frame: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            mark = len(self.frames)
        self._loop.run(self._ws.send_json(frame), WAIT_S)    # type: ignore[union-attr]
        return self._next_frame(mark, lambda f: f["type"] in (
            "choices", "admitted", "refused", "error", "bye", "<closed>"), f"answer to {step}")

    def failed(self) -> str:
        """What went wrong on the party's loop (its call, its screen), or ""."""
        with self._cond:
            return repr(self.errors[0])[:300] if self.errors else ""

    @property
    def ended(self) -> str | None:
        """The reason the meeting ended for the page (the unit's ``bye``), or None."""
        with self._cond:
            return next((f.get("reason") for f in self.frames if f["type"] == "bye"), None)

    def wait_ended(self, timeout: float = WAIT_S) -> str | None:
        with self._cond:
            self._cond.wait_for(lambda: any(f["type"] in ("bye", "<closed>")
                                            for f in self.frames), timeout)
        return self.ended

    # -- the call ------------------------------------------------------------------------------
    def _call(self) -> None:
        with self._cond:
            mark = len(self.frames)
        sdp = self._loop.run(self._offer(), WAIT_S)
        self._loop.run(self._ws.send_json(   # type: ignore[union-attr]
            {"type": "signal", "signal": {"kind": "offer", "sdp": sdp}}), WAIT_S)
        answer = self._next_frame(mark, lambda f: f["type"] == "signal"
                                  and f["signal"].get("kind") == "answer", "the unit's answer")
        self._loop.run(self._pc.setRemoteDescription(   # type: ignore[union-attr]
            RTCSessionDescription(answer["signal"]["sdp"], "answer")), WAIT_S)

    async def _offer(self) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pc = pc
        pc.addTrack(self._picture)
        pc.addTrack(self._voice)
        screen = pc.createDataChannel("screen", negotiated=True, id=0)
        screen.on("message", lambda data: self._screen(screen, data))
        pc.on("track", lambda track: self._loop.spawn(self._watch(track), "counter"))
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp

    async def _watch(self, track: MediaStreamTrack) -> None:
        """The counter's picture and sound, taken as they come (aiortc queues what is not)."""
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            with self._cond:
                self.received[track.kind] += 1

    def _screen(self, channel: Any, data: str | bytes) -> None:
        """The unit's screen messages: sign when a view asks for the party's signature."""
        if not isinstance(data, str):
            return
        try:
            message = json.loads(data)
        except ValueError:
            return
        wanted = message.get("signature") if message.get("type") == "view" else None
        if not isinstance(wanted, dict) or wanted.get("state") != "wanted":
            return
        node = str(wanted.get("node"))
        with self._cond:
            if node in self.signed:
                return
            self.signed.append(node)
        width, height = SIGNATURE_CANVAS
        channel.send(json.dumps({"type": "signature", "node": node, "width": width,
                                 "height": height, "strokes": finger_signature(width, height)}))

    # -- what the demo makes the party do -------------------------------------------------------
    def say(self, pcm: np.ndarray) -> None:
        """Speak ``pcm`` (int16, 48 kHz) into the phone now."""
        self._loop.call(self._voice.say, pcm)

    def show(self, bgr: np.ndarray) -> None:
        """Hold ``bgr`` up to the phone's camera (until the next :meth:`show`)."""
        self._loop.call(self._picture.show, bgr)

    def close(self) -> None:
        """Hang up, close the page, stop the loop. Safe twice."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            self._loop.close()
            return
        try:
            if self._pc is not None:
                self._loop.run(self._pc.close(), WAIT_S)
            if self._ws is not None:
                self._loop.run(self._ws.close(), WAIT_S)
            if self._http is not None:
                self._loop.run(self._http.close(), WAIT_S)
        finally:
            self._loop.close()
