"""The remote-media tests' rig: the unit on simulated hardware with a real Evidence store, and
a "browser" that is a second aiortc RTCPeerConnection sending a real face photograph and a
tone read from a WAV file, through the in-process signalling pair.

Every wait is on an event (a record on the chain, a message, a frame), bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import fractions
import threading
import wave
from pathlib import Path
from typing import Any, Callable

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from skimage import data

from drivers.audio import open_microphone
from drivers.camera import open_camera
from drivers.clock import SimClock
from firmware.evidence.records import Record
from firmware.evidence.store import Evidence
from firmware.unit.recorder import Recorder
from firmware.unit.remote import CounterFeed, RemoteOptions, RemoteParty, signalling_pair
from firmware.unit.remote.loop_thread import EventLoopThread

TONE_HZ = 1000
WAIT = 30.0     # real seconds any one event may take on a loaded 2-core machine


def write_tone_wav(path: Path, seconds: float = 2.0, hz: int = TONE_HZ) -> Path:
    t = np.arange(int(48_000 * seconds)) / 48_000
    pcm = (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48_000)
        w.writeframes(pcm.tobytes())
    return path


class RecordWatch:
    """Every record the chain appends, with a condition to wait on."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._cond = threading.Condition()

    def __call__(self, record: Record) -> None:
        with self._cond:
            self.records.append(record)
            self._cond.notify_all()

    def of(self, type_: str | None = None, **data: Any) -> list[Record]:
        with self._cond:
            return [r for r in self.records if (type_ is None or r.type == type_)
                    and all(r.data.get(k) == v for k, v in data.items())]

    def wait(self, predicate: Callable[["RecordWatch"], bool], timeout: float = WAIT) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self), timeout), \
                f"timed out; records so far: {[(r.type, r.data.get('kind') or r.data.get('stream')) for r in self.records][-20:]}"

    def wait_count(self, n: int, type_: str, **data: Any) -> list[Record]:
        self.wait(lambda w: len(w.of(type_, **data)) >= n)
        return self.of(type_, **data)


class _Pausable(MediaStreamTrack):
    """A paced source that can be paused (no frames: on the wire, like a dead network)."""

    def __init__(self, period: float) -> None:
        super().__init__()
        self._period = period
        self._start: float | None = None
        self.count = 0
        self.running = asyncio.Event()
        self.running.set()

    async def _next(self) -> int:
        await self.running.wait()
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self.count += 1
            await asyncio.sleep(max(0.0, self._start + self.count * self._period - loop.time()))
        await self.running.wait()
        return self.count


class FaceTrack(_Pausable):
    """The scikit-image astronaut (a real face) at 30 frames a second."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__(1 / 30)
        self._bgr = np.ascontiguousarray(data.astronaut()[:, :, ::-1])

    async def recv(self) -> av.VideoFrame:
        n = await self._next()
        frame = av.VideoFrame.from_ndarray(self._bgr, format="bgr24")
        frame.pts = n * 3000
        frame.time_base = fractions.Fraction(1, 90_000)
        return frame


class WavTrack(_Pausable):
    """A mono 48 kHz WAV file, looped, in 20 ms frames."""

    kind = "audio"

    def __init__(self, path: Path) -> None:
        super().__init__(0.02)
        with wave.open(str(path), "rb") as w:
            self._pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")

    async def recv(self) -> av.AudioFrame:
        n = await self._next()
        start = (n * 960) % (len(self._pcm) - 960)
        frame = av.AudioFrame.from_ndarray(self._pcm[start:start + 960].reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate = 48_000
        frame.pts = n * 960
        frame.time_base = fractions.Fraction(1, 48_000)
        return frame


class BrowserPeer:
    """The remote party's side: offers, receives the counter, can drop, rejoin, hang up."""

    def __init__(self, signalling, wav: Path) -> None:
        self.signalling = signalling
        self._wav = wav
        self._loop = EventLoopThread("browser", self._error)
        self._loop.start()
        self.errors: list[BaseException] = []
        self.messages: list[dict] = []
        self._cond = threading.Condition()
        self.received = {"video": 0, "audio": 0}
        self.counter_size: tuple[int, int] | None = None
        self.pc: RTCPeerConnection | None = None
        self.tracks: list[_Pausable] = []
        signalling.on_message(self._message)

    def _error(self, exc: BaseException) -> None:
        self.errors.append(exc)

    def _message(self, message: dict) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_message(self, kind: str, after: int = 0) -> dict:
        with self._cond:
            assert self._cond.wait_for(
                lambda: any(m["type"] == kind for m in self.messages[after:]), WAIT), \
                f"no {kind!r} message; got {[m['type'] for m in self.messages]}"
            return next(m for m in self.messages[after:] if m["type"] == kind)

    def wait_received(self, video: int, audio: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.received["video"] >= video
                                       and self.received["audio"] >= audio, WAIT), \
                f"the counter did not arrive: {self.received}"

    def join(self, offer_edit: Callable[[str], str] = lambda sdp: sdp) -> dict:
        """Offer (a new connection) and apply the unit's answer; returns the answer."""
        mark = len(self.messages)
        offer = self._loop.run(self._offer(), WAIT)
        self.signalling.send({"type": "offer", "sdp": offer_edit(offer)})
        answer = self.wait_message("answer", after=mark)
        self._loop.run(self.pc.setRemoteDescription(
            RTCSessionDescription(answer["sdp"], "answer")), WAIT)
        return answer

    async def _offer(self) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        self.tracks = [FaceTrack(), WavTrack(self._wav)]
        for track in self.tracks:
            pc.addTrack(track)
        pc.on("track", lambda track: self._loop.spawn(self._eat(track), "eat"))
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp

    async def _eat(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            with self._cond:
                self.received[track.kind] += 1
                if track.kind == "video":
                    self.counter_size = (frame.width, frame.height)
                self._cond.notify_all()

    def pause(self) -> None:
        """The network goes silent: no packet of either stream leaves."""
        for track in self.tracks:
            self._loop.loop.call_soon_threadsafe(track.running.clear)

    def drop_connection(self) -> None:
        """Close the connection without a word on the signalling (a page reload)."""
        pc, self.pc = self.pc, None
        if pc is not None:
            self._loop.run(pc.close(), WAIT)

    def hang_up(self) -> None:
        self.signalling.send({"type": "bye", "reason": "customer hung up"})
        self.drop_connection()

    def close(self) -> None:
        self.drop_connection()
        self._loop.close()
        self.signalling.close()


class UnitRig:
    """The counter recording a session on simulated hardware, and a CounterFeed for calls."""

    def __init__(self, tmp_path: Path, device_key) -> None:
        self.clock = SimClock(realtime=True)
        self.watch = RecordWatch()
        self.evidence = Evidence.open(tmp_path / "spool", device_key, self.clock,
                                      on_record=self.watch)
        self.camera = open_camera("sim", clock=self.clock, width=640, height=480, fps=30,
                                  bitrate=600_000, scene="face")
        self.microphone = open_microphone("sim", clock=self.clock)
        self.microphone.set_source("tone", freq=440)
        self.faults: list[BaseException] = []
        self.recorder = Recorder(self.evidence, self.clock, self.camera, self.microphone,
                                 on_fault=self.faults.append)
        self.session = self.evidence.start_session({"template": "remote-test"})
        self.feed = CounterFeed(self.camera.analysis_frame)
        self.recorder.start(self.session, audio_tap=self.feed.audio_block)
        self.parties: list[RemoteParty] = []
        self.browsers: list[BrowserPeer] = []
        self.wav = write_tone_wav(tmp_path / "tone.wav")
        self.changes: list = []

    def call(self, party: str = "p1", **options: Any) -> tuple[RemoteParty, BrowserPeer]:
        unit_end, remote_end = signalling_pair()
        opts = RemoteOptions(**{"stall_seconds": 0.5, "stats_seconds": 1.0, **options})
        remote = RemoteParty(self.evidence, self.clock, self.session, party, unit_end,
                             self.feed, options=opts, on_fault=self.faults.append,
                             on_change=self.changes.append)
        remote.start()
        browser = BrowserPeer(remote_end, self.wav)
        self.parties.append(remote)
        self.browsers.append(browser)
        return remote, browser

    def session_files(self) -> list[Path]:
        return sorted((self.evidence.spool.root / "sessions" / self.session).iterdir())

    def path(self, record: Record, suffix: str) -> Path:
        return self.evidence.spool.root / next(f.path for f in record.files
                                               if f.path.endswith(suffix))

    def finish(self):
        """Close the calls, stop the counter, end the session; the counter's stats."""
        for party in self.parties:
            party.close()
        stats = self.recorder.stop()
        self.evidence.end_session(self.session, {"stats": stats.as_dict()})
        return stats

    def close(self) -> None:
        for party in self.parties:
            party.close()
        for browser in self.browsers:
            browser.close()
        if self.recorder.recording:
            self.recorder.stop()
        self.camera.close()
        self.microphone.close()
        self.evidence.close()

