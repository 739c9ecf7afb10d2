"""The update stream's state: the latest view, the current signature, the connected screens.

The server keeps nothing else: a screen that connects (a reload, a reconnect) gets the latest
view and the whole signature at once, then every change after them. Each event has an id that
only grows. Changes come from any thread (the flow's, the pad's) and are made under one lock,
which also hands the event to the event loop (``call_soon_threadsafe``) in id order; a client
that connects takes its snapshot under the same lock and skips queued events whose id the
snapshot already covers, so it sees every change exactly once. Signature points are batched:
the pad's samples wait in ``_pending`` until the loop flushes them as one event.

Each client has a bounded queue; a client that falls ``QUEUE_EVENTS`` behind is dropped (its
stream ends; the browser reconnects and gets a fresh snapshot), so a stuck screen costs no
memory. At most ``max_clients`` streams at once.
"""
from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from drivers.sigpad.base import PadInfo, PenSample
from firmware.unit.display.signature import LiveSignature

QUEUE_EVENTS = 256


def _event(event_id: int, name: str, data: Any) -> bytes:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: {name}\ndata: {body}\n\n".encode()


@dataclass(eq=False)
class StreamClient:
    """One connected screen: its queue of encoded events (None ends the stream)."""

    after_id: int
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_EVENTS + 2))
    dropped: bool = False


class ScreenState:
    """See the module docstring. ``clock_ns`` gives the unit's monotonic time for ``now_ns``."""

    def __init__(self, clock_ns, max_clients: int) -> None:
        self._clock_ns = clock_ns
        self.max_clients = max_clients
        self._lock = threading.Lock()
        self._id = 0
        self._view: Any = None
        self._signature = LiveSignature()
        self._pending: list[list[int]] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: set[StreamClient] = set()   # touched on the loop thread only

    # -- the loop ------------------------------------------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop | None) -> None:
        with self._lock:
            self._loop = loop
            self._flush_scheduled = False

    def _send_locked(self, name: str, data: Any) -> None:
        self._id += 1
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._deliver, self._id, _event(self._id, name, data))

    def _deliver(self, event_id: int, payload: bytes) -> None:
        for client in list(self._clients):
            if event_id <= client.after_id or client.dropped:
                continue
            if client.queue.qsize() >= QUEUE_EVENTS:
                self._drop(client)
            else:
                client.queue.put_nowait(payload)

    def _drop(self, client: StreamClient) -> None:
        client.dropped = True
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(None)

    # -- changes (any thread) ------------------------------------------------------------------
    def set_view(self, parts: Any) -> None:
        with self._lock:
            self._view = parts
            self._send_locked("view", {"now_ns": self._clock_ns(), "view": parts})

    def signature_reset(self, info: PadInfo | None) -> dict:
        """Start a new signature (``info`` None: no signature shown); its data."""
        with self._lock:
            self._signature = LiveSignature(info)
            self._pending.clear()
            data = self._signature.as_data()
            self._send_locked("signature", {"full": True, **data})
            return data

    def signature_sample(self, sample: PenSample) -> None:
        with self._lock:
            added = self._signature.add(sample)
            if added is None:
                return
            self._pending.append([added[0], *added[1]])
            if not self._flush_scheduled and self._loop is not None:
                self._flush_scheduled = True
                self._loop.call_soon_threadsafe(self._flush)

    def signature_stroke_end(self) -> dict:
        """End the stroke; the signature's data as now shown."""
        with self._lock:
            self._signature.end_stroke()
            self._flush_locked()
            return self._signature.as_data()

    def _flush(self) -> None:
        with self._lock:
            self._flush_scheduled = False
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending:
            points, self._pending = self._pending, []
            self._send_locked("signature", {"full": False, "points": points})

    # -- clients (loop thread) -----------------------------------------------------------------
    @property
    def viewers(self) -> int:
        return len(self._clients)

    def connect(self) -> StreamClient | None:
        """A new client with the snapshot queued, or None when ``max_clients`` are connected."""
        if len(self._clients) >= self.max_clients:
            return None
        with self._lock:
            self._flush_locked()
            client = StreamClient(self._id)
            client.queue.put_nowait(b"retry: 1000\n\n")
            if self._view is not None:
                client.queue.put_nowait(_event(self._id, "view", {"now_ns": self._clock_ns(),
                                                                  "view": self._view}))
            client.queue.put_nowait(_event(self._id, "signature",
                                           {"full": True, **self._signature.as_data()}))
        self._clients.add(client)
        return client

    def disconnect(self, client: StreamClient) -> None:
        self._clients.discard(client)

    def close_all(self) -> None:
        """End every stream (server shutting down)."""
        for client in list(self._clients):
            self._drop(client)
