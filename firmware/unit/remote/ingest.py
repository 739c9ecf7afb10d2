"""A party's media thread: what its connection receives, written in the order it arrived.

The event loop only stamps and queues (it must keep the network moving); this thread encodes,
writes, tracks losses and feeds the party's audio listeners. The queue is bounded: at most
``max_video`` decoded pictures (a 640x480 picture is 460 KB) and ``max_audio`` audio frames
wait; what does not fit is dropped and accounted for (video: a GAP ``dropped_frames``; audio:
the hole its RTP timestamps leave). Control items (losses, sender reports, the end) are never
dropped.

A write that fails for lack of storage stops the party's sealer, which tells the owner once;
any other failure here is reported to ``on_fault`` and stops the thread's writing (the loop
goes on, so the call itself is not cut).
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any, Callable

import av

from drivers.audio import AudioBlock
from firmware.errors import StorageError
from firmware.unit.recorder.sealer import Sealer
from firmware.unit.remote.remote_audio import RATE, RemoteAudioSegmenter
from firmware.unit.remote.remote_video import RemoteVideoSegmenter
from firmware.unit.remote.stream_loss import StreamLoss

log = logging.getLogger(__name__)

VIDEO, AUDIO = "remote_video", "remote_audio"


class PartyIngest:
    """The queue and thread between a party's connection and its segmenters."""

    def __init__(self, name: str, *, video: RemoteVideoSegmenter, audio: RemoteAudioSegmenter,
                 losses: dict[str, StreamLoss], sealer: Sealer,
                 on_fault: Callable[[BaseException], None], max_video: int = 8,
                 max_audio: int = 100) -> None:
        self._video = video
        self._audio = audio
        self._losses = losses
        self._sealer = sealer
        self._on_fault = on_fault
        self._limits = {VIDEO: max_video, AUDIO: max_audio}
        self._queued = {VIDEO: 0, AUDIO: 0}
        self._items: deque[tuple[Any, ...]] = deque()
        self._cond = threading.Condition()
        self._video_dropped = 0
        self._last_video_ns: int | None = None
        self._listeners: list[Callable[[AudioBlock], None]] = []
        self.listener_errors = 0
        self.error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- from the event loop -----------------------------------------------------------------
    def media(self, stream: str, frame: av.VideoFrame | av.AudioFrame, arrival_ns: int,
              rtp: int | None, connection: int) -> bool:
        """Queue a decoded frame; False if it was dropped (the queue was full)."""
        with self._cond:
            if self._closed:
                return False
            if self._queued[stream] >= self._limits[stream]:
                if stream == VIDEO:
                    self._video_dropped += 1
                return False
            dropped = 0
            if stream == VIDEO:
                dropped, self._video_dropped = self._video_dropped, 0
            self._queued[stream] += 1
            self._items.append((stream, frame, arrival_ns, rtp, connection, dropped))
            self._cond.notify()
        return True

    def control(self, *item: Any) -> None:
        """``("report", stream, SenderReport)``, ``("lost", stream, at_ns, reason)``,
        ``("ended", at_ns)``."""
        with self._cond:
            if self._closed:
                return
            self._items.append(item)
            self._cond.notify()

    def close(self, at_ns: int) -> None:
        """Write what is queued, seal the open segments, close open losses at ``at_ns``, stop
        the thread. Safe twice."""
        with self._cond:
            if not self._closed:
                self._closed = True
                self._items.append(("close", at_ns))
                self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    # -- listeners ---------------------------------------------------------------------------
    def listen(self, callback: Callable[[AudioBlock], None]) -> Callable[[], None]:
        with self._cond:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._cond:
                if callback in self._listeners:
                    self._listeners.remove(callback)
        return unsubscribe

    def _tell(self, blocks: list[AudioBlock]) -> None:
        with self._cond:
            listeners = list(self._listeners)
        for callback in listeners:
            for block in blocks:
                try:
                    callback(block)
                except Exception as exc:   # the listener's own bug: it goes, the media stays
                    log.error("remote audio listener %r failed and was removed: %r",
                              callback, exc, exc_info=exc)
                    self.listener_errors += 1
                    with self._cond:
                        if callback in self._listeners:
                            self._listeners.remove(callback)
                    break

    # -- the thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items:
                    self._cond.wait()
                item = self._items.popleft()
                if item[0] in self._queued:
                    self._queued[item[0]] -= 1
            if item[0] == "close":
                self._finish(item[1])
                return
            if self.error is not None or self._sealer.error is not None:
                continue    # writing stopped; the owner was told
            try:
                self._handle(item)
            except StorageError as exc:
                self._sealer.fail(exc)
            except Exception as exc:
                self.error = exc
                log.error("remote media thread failed: %r", exc, exc_info=exc)
                self._on_fault(exc)

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == VIDEO:
            _, frame, arrival_ns, rtp, connection, dropped = item
            loss = self._losses[VIDEO]
            if loss.lost:
                loss.back(arrival_ns)
            elif dropped and self._last_video_ns is not None:
                self._video.dropped(self._last_video_ns, arrival_ns, dropped)
            self._video.frame(frame, arrival_ns, rtp, connection)
            loss.received(arrival_ns)
            self._last_video_ns = arrival_ns
        elif kind == AUDIO:
            _, frame, arrival_ns, rtp, connection, _ = item
            loss = self._losses[AUDIO]
            if loss.lost:
                loss.back(arrival_ns)
            blocks = self._audio.frame(frame, arrival_ns, rtp, connection)
            if blocks:
                last = blocks[-1]
                loss.received(last.first_sample_ns + last.frames * 1_000_000_000 // RATE)
                self._tell(blocks)
        elif kind == "report":
            _, stream, report = item
            self._segmenter(stream).sender_report(report)
        elif kind == "lost":
            _, stream, at_ns, reason = item
            if self._losses[stream].went(at_ns, reason):
                self._segmenter(stream).break_segment()
        elif kind == "ended":
            for stream, loss in self._losses.items():
                loss.ended(item[1])
                self._segmenter(stream).break_segment()
        else:
            raise ValueError(f"remote media thread: unknown item {kind!r}")

    def _segmenter(self, stream: str) -> RemoteVideoSegmenter | RemoteAudioSegmenter:
        return self._video if stream == VIDEO else self._audio

    def _finish(self, at_ns: int) -> None:
        """Seal what is open and close the losses, even after a failure of the media (the
        sealer drops what it can no longer write and leaves the ``.part`` files)."""
        for segmenter in (self._video, self._audio):
            try:
                segmenter.close()
            except StorageError as exc:
                self._sealer.fail(exc)
            except Exception as exc:
                if self.error is None:
                    self.error = exc
                    self._on_fault(exc)
        for loss in self._losses.values():
            loss.close(at_ns)

