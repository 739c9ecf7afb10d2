"""A remote party of a session: their WebRTC call with the unit, recorded on the session's chain.

Threads: the party's event loop (aiortc, signalling, stamping what arrives), its media thread
(encoding and writing, :mod:`~firmware.unit.remote.ingest`), its sealer (every evidence write,
in order) and aiortc's decoder threads. The public methods are for any *other* thread:
:meth:`RemoteParty.start` and :meth:`RemoteParty.close` (safe twice; every write is done when
it returns), :attr:`RemoteParty.connected`, :meth:`RemoteParty.status`,
:meth:`RemoteParty.wait_connected`, :meth:`RemoteParty.latest_frame`,
:meth:`RemoteParty.listen`, and the party's screen channel: :meth:`RemoteParty.on_screen`,
:meth:`RemoteParty.send_screen`, :attr:`RemoteParty.screen_open`. ``on_change(status)`` is called on the loop thread whenever
``connected`` flips; ``on_fault(exc)`` once, from whichever thread found it, when the party's
evidence can no longer be written or a part of the call failed (the owner shows it and may
close the party); later failures are logged.

The session must close its parties before ``Evidence.end_session``: their last segments and
GAPs belong in the session's manifest.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from drivers.audio import AudioBlock
from drivers.clock import Clock
from firmware.errors import DualrecError
from firmware.evidence.store import Evidence
from firmware.unit.recorder.sealer import Sealer
from firmware.unit.remote.call import Call
from firmware.unit.remote.connection_log import ConnectionLog
from firmware.unit.remote.counter_feed import CounterFeed
from firmware.unit.remote.ingest import AUDIO, VIDEO, PartyIngest
from firmware.unit.remote.loop_thread import EventLoopThread
from firmware.unit.remote.options import RemoteOptions, check_party_id
from firmware.unit.remote.picture_view import PictureView
from firmware.unit.remote.remote_audio import RemoteAudioSegmenter
from firmware.unit.remote.remote_video import RemoteVideoSegmenter
from firmware.unit.remote.screen_link import ScreenData, ScreenEvent, check_outgoing
from firmware.unit.remote.signalling import Signalling
from firmware.unit.remote.stream_loss import StreamLoss

log = logging.getLogger(__name__)


class RemoteStateError(DualrecError, RuntimeError):
    """A remote party was used in a state that does not allow it (closed, not started)."""


@dataclass(frozen=True)
class PartyStatus:
    """One look at a party. ``state``: the current connection's aiortc ``connectionState``,
    ``"none"`` before any offer, ``"left"`` after the party hung up, ``"closed"`` after
    :meth:`RemoteParty.close`. ``connected``: connected *and* every stream that has started
    is arriving (a stalled stream is a drop even while ICE still says connected)."""

    party: str
    connected: bool
    state: str
    connections: int
    joined: bool
    left: bool
    video_frames: int
    video_segments: int
    audio_samples: int
    audio_segments: int
    gaps: int
    latest_video_ns: int | None
    fault: str | None


class RemoteParty:
    """The remote party ``party`` (``[a-z0-9]{1,16}``, it names their files) of the open
    session ``session_id``: answers their offers on ``signalling`` (which it owns and closes),
    sends them the counter (``feed``), records what they send."""

    def __init__(self, evidence: Evidence, clock: Clock, session_id: str, party: str,
                 signalling: Signalling, feed: CounterFeed, *,
                 options: RemoteOptions = RemoteOptions(),
                 on_fault: Callable[[BaseException], None] | None = None,
                 on_change: Callable[[PartyStatus], None] | None = None) -> None:
        self.party = check_party_id(party)
        self._evidence = evidence
        self._clock = clock
        self._session = session_id
        self._signalling = signalling
        self._feed = feed
        self._options = options
        self._on_fault = on_fault
        self._on_change = on_change
        self._cond = threading.Condition()
        self._closed = False
        self._fault_exc: BaseException | None = None
        self._state = "none"
        self._left = False
        self._started_streams: set[str] = set()
        self._lost: set[str] = set()
        self._latest: tuple[Any, int] | None = None
        self._connected = False
        self._loop: EventLoopThread | None = None
        self._sealer: Sealer | None = None
        self._ingest: PartyIngest | None = None
        self._video: RemoteVideoSegmenter | None = None
        self._audio: RemoteAudioSegmenter | None = None
        self._losses: dict[str, StreamLoss] = {}
        self._log: ConnectionLog | None = None
        self._call: Call | None = None
        self._picture = PictureView()   # never the frame's own scaler: see picture_view
        self._screen_listeners: list[Callable[[ScreenEvent], None]] = []
        self._screen_open: ScreenEvent | None = None    # the open event of the open channel
        self.screen_listener_errors = 0

    # -- lifecycle (any other thread) ----------------------------------------------------------
    def start(self) -> None:
        """Start the party's threads and listen for its offer. Once only."""
        with self._cond:
            if self._closed:
                raise RemoteStateError(f"remote party {self.party}: closed; make a new one")
            if self._loop is not None:
                raise RemoteStateError(f"remote party {self.party}: already started")
            opts = self._options
            segment_ns = int(opts.segment_seconds * 1e9)
            sealer = Sealer(self._fault, name=f"sealer-remote-{self.party}")
            self._sealer = sealer
            self._video = RemoteVideoSegmenter(
                self._evidence, sealer, self._clock, self._session, self.party,
                segment_ns=segment_ns, max_size=opts.record_max_size, fps=opts.record_fps,
                bitrate=opts.record_bitrate)
            self._audio = RemoteAudioSegmenter(
                self._evidence, sealer, self._clock, self._session, self.party,
                segment_ns=segment_ns, conceal_max_ns=opts.conceal_max_ms * 1_000_000)
            self._losses = {s: StreamLoss(self._evidence, sealer, self._session,
                                          party=self.party, stream=s) for s in (VIDEO, AUDIO)}
            self._ingest = PartyIngest(f"remote-{self.party}-media", video=self._video,
                                       audio=self._audio, losses=self._losses, sealer=sealer,
                                       on_fault=self._fault)
            self._log = ConnectionLog(self._evidence, sealer, self._clock, self._session,
                                      self.party, max_events=opts.max_events)
            self._loop = EventLoopThread(f"remote-{self.party}", self._fault)
            self._call = Call(self.party, loop=self._loop, options=opts, feed=self._feed,
                              clock=self._clock, log_=self._log, ingest=self._ingest,
                              signalling=self._signalling, on_state=self._set_state,
                              on_media=self._stream_arrived, on_lost=self._streams_lost,
                              on_fault=self._fault, on_screen=self._screen_event)
        self._loop.start()
        self._loop.call(self._call.begin)
        self._signalling.on_message(self._call.on_signal)

    def close(self) -> None:
        """End the call (a ``bye`` to the party, the connection closed), seal everything that
        was received, record the party's leaving. Safe twice; not from the party's callbacks."""
        loop = self._loop
        if loop is not None and loop.in_loop:
            raise RemoteStateError(f"remote party {self.party}: close() from its own loop "
                                   "(an on_change callback) would wait for itself")
        with self._cond:
            if self._closed:
                return
            self._closed = True
        if loop is not None:
            try:
                loop.run(self._call.shutdown(), self._options.close_timeout_s)
            except Exception as exc:   # the recording below is still sealed
                self._fault(exc)
            loop.close(self._options.close_timeout_s)
            self._ingest.close(self._clock.monotonic_ns())
            self._log.left("unit_closed")
            self._sealer.close()
        self._signalling.close()
        self._set_state("closed")

    def __enter__(self) -> "RemoteParty":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the session reads (any thread) -------------------------------------------------
    @property
    def connected(self) -> bool:
        with self._cond:
            return self._connected

    def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` real seconds for :attr:`connected`; whether it is."""
        with self._cond:
            return self._cond.wait_for(lambda: self._connected or self._closed, timeout) \
                and self._connected

    def latest_frame(self) -> tuple[np.ndarray, int] | None:
        """The newest picture the party sent, as a BGR image at the size it was received, and
        its arrival (CLOCK_MONOTONIC ns; old after a drop: compare with the clock). None before
        the first picture. Converted on the caller's thread."""
        with self._cond:
            latest = self._latest
        if latest is None:
            return None
        frame, arrival_ns = latest
        return self._picture.bgr(frame), arrival_ns

    def listen(self, callback: Callable[[AudioBlock], None]) -> Callable[[], None]:
        """Call ``callback(block)`` with every block of the party's audio as it is recorded
        (mono 16-bit 48 kHz, the microphone's :class:`AudioBlock`: ``first_sample_ns`` on the
        unit's clock, ``sample_index`` the party's sample count; silence put in for lost
        packets included). Called on the party's media thread: return quickly. A callback that
        raises is logged and removed. Returns the function that stops the calls."""
        if self._ingest is None:
            raise RemoteStateError(f"remote party {self.party}: start() it first")
        return self._ingest.listen(callback)

    # -- the screen channel (docs/remote-media.md, "Reading and signing remotely") ------------
    @property
    def screen_open(self) -> bool:
        """Whether the party's current connection has its screen channel open."""
        with self._cond:
            return self._screen_open is not None

    def on_screen(self, callback: Callable[[ScreenEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` with every :class:`ScreenEvent` of the party's screen
        channel, on the party's loop thread (return quickly; one that raises is logged and
        removed). If the channel is open already, the callback first gets its ``open``.
        Returns the function that stops the calls."""
        loop = self._loop
        if loop is None:
            raise RemoteStateError(f"remote party {self.party}: start() it first")
        with self._cond:
            self._screen_listeners.append(callback)

        def replay_open() -> None:
            with self._cond:
                opened = self._screen_open if callback in self._screen_listeners else None
            if opened is not None:
                self._tell_screen([callback], opened)
        loop.call(replay_open)

        def unsubscribe() -> None:
            with self._cond:
                if callback in self._screen_listeners:
                    self._screen_listeners.remove(callback)
        return unsubscribe

    def send_screen(self, *messages: ScreenData) -> None:
        """Send ``messages`` (text or bytes, each at most 64 KiB) in order on the party's
        screen channel, from any thread; all or none, and none while no channel is open or
        too much is still unsent (counted, see :attr:`stats`). Never waits."""
        check_outgoing(messages)
        if self._loop is None:
            raise RemoteStateError(f"remote party {self.party}: start() it first")
        self._loop.call(self._call.send_screen, tuple(messages))

    def _screen_event(self, event: ScreenEvent) -> None:
        """On the loop: the current connection's screen channel to the listeners."""
        with self._cond:
            if event.kind == "open":
                self._screen_open = event
            elif event.kind == "closed":
                if self._screen_open is None \
                        or self._screen_open.connection != event.connection:
                    return                  # a channel that never opened, or an older one
                self._screen_open = None
            listeners = list(self._screen_listeners)
        self._tell_screen(listeners, event)

    def _tell_screen(self, listeners: list[Callable[[ScreenEvent], None]],
                     event: ScreenEvent) -> None:
        for callback in listeners:
            try:
                callback(event)
            except Exception as exc:   # the listener's own bug: it goes, the call stays
                log.error("remote party %s: screen listener %r failed and was removed: %r",
                          self.party, callback, exc, exc_info=exc)
                with self._cond:
                    self.screen_listener_errors += 1
                    if callback in self._screen_listeners:
                        self._screen_listeners.remove(callback)

    def status(self) -> PartyStatus:
        v, a = self._video, self._audio
        with self._cond:
            latest = self._latest
            return PartyStatus(
                self.party, self._connected, self._state,
                self._log.connections if self._log else 0,
                bool(self._log and self._log.joined_ns is not None), self._left,
                v.stats.frames if v else 0, v.stats.segments if v else 0,
                a.stats.samples if a else 0, a.stats.segments if a else 0, len(self.gaps()),
                latest[1] if latest else None,
                repr(self._fault_exc) if self._fault_exc is not None else None)

    def gaps(self) -> list[tuple[int, int, str]]:
        """What the party's streams lost so far: (start_ns, end_ns, reason), closed ones."""
        out = [(s, e, r) for loss in self._losses.values() for s, e, r in loss.spans]
        if self._video is not None:
            out += [(s, e, "dropped_frames") for s, e in self._video.stats.drops]
        return sorted(out)

    @property
    def fault(self) -> BaseException | None:
        with self._cond:
            return self._fault_exc

    @property
    def stats(self) -> dict[str, Any]:
        """Counts and the arrival-to-sealed latency of the party's segments (ns)."""
        out: dict[str, Any] = {}
        for name, seg in (("video", self._video), ("audio", self._audio)):
            if seg is not None:
                s = seg.stats
                out[name] = {"segments": s.segments, "sealed": s.sealed,
                             "seal_latency_max_ns": s.seal_latency_max_ns,
                             "seal_latency_mean_ns": s.seal_latency_sum_ns // max(1, s.sealed)}
        out["listener_errors"] = self._ingest.listener_errors if self._ingest else 0
        out["screen"] = {"dropped": self._call.screen_dropped if self._call else 0,
                         "listener_errors": self.screen_listener_errors}
        return out

    # -- the call's callbacks (loop thread; _fault from any) ------------------------------------------------------------------
    def _fault(self, exc: BaseException) -> None:
        with self._cond:
            first = self._fault_exc is None
            if first:
                self._fault_exc = exc
        if not first:
            log.error("remote party %s: another failure: %r", self.party, exc)
            return
        log.error("remote party %s failed: %r", self.party, exc)
        if self._on_fault is not None:
            self._on_fault(exc)

    def _set_state(self, state: str, *, left: bool | None = None) -> None:
        with self._cond:
            self._state = state
            if left is not None:
                self._left = left
            changed = self._update()
        self._changed(changed)

    def _stream_arrived(self, stream: str, frame: Any, arrival_ns: int) -> None:
        with self._cond:
            self._started_streams.add(stream)
            self._lost.discard(stream)
            if stream == VIDEO:
                self._latest = (frame, arrival_ns)
            changed = self._update()
        self._changed(changed)

    def _streams_lost(self, streams: tuple[str, ...]) -> tuple[str, ...]:
        """Mark ``streams`` lost; the ones that had started (only they can be lost)."""
        with self._cond:
            started = tuple(s for s in streams if s in self._started_streams)
            self._lost.update(started)
            changed = self._update()
        self._changed(changed)
        return started

    def _update(self) -> bool:
        """Under ``_cond``: recompute ``connected``, wake waiters; whether it changed."""
        connected = (self._state == "connected" and not self._left and not self._closed
                     and not (self._lost & self._started_streams))
        changed = connected != self._connected
        self._connected = connected
        self._cond.notify_all()
        return changed

    def _changed(self, changed: bool) -> None:
        if not changed or self._on_change is None:
            return
        try:
            self._on_change(self.status())
        except Exception as exc:   # the owner's callback: its failure is the owner's
            self._fault(exc)
