"""The stream's state on its own event loop: snapshots, ids, bounded queues."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from firmware.unit.display.stream import QUEUE_EVENTS, ScreenState


def run(coro):
    """``coro`` on a fresh event loop of its own thread (as the server runs it; the test's
    thread may already hold Playwright's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_a_client_that_falls_behind_is_dropped_not_buffered():
    async def scenario():
        state = ScreenState(lambda: 0, max_clients=2)
        state.attach(asyncio.get_running_loop())
        client = state.connect()
        for i in range(QUEUE_EVENTS + 10):
            state.set_view({"n": i})
        await asyncio.sleep(0)          # let the loop run the queued deliveries
        items = [client.queue.get_nowait() for _ in range(client.queue.qsize())]
        return client.dropped, items
    dropped, items = run(scenario())
    assert dropped and items == [None]


def test_a_snapshot_covers_queued_events_so_none_arrives_twice():
    async def scenario():
        state = ScreenState(lambda: 0, max_clients=2)
        state.attach(asyncio.get_running_loop())
        state.set_view({"n": 1})        # queued to the loop, not yet delivered
        client = state.connect()        # its snapshot already holds n=1
        state.set_view({"n": 2})
        await asyncio.sleep(0)
        return [client.queue.get_nowait() for _ in range(client.queue.qsize())]
    events = [e for e in run(scenario()) if e.startswith(b"id:")]
    views = [e for e in events if b"event: view" in e]
    assert [b'"n":1' in views[0], b'"n":2' in views[1], len(views)] == [True, True, 2]


def test_connections_past_the_cap_are_refused():
    async def scenario():
        state = ScreenState(lambda: 0, max_clients=1)
        state.attach(asyncio.get_running_loop())
        first = state.connect()
        refused = state.connect()
        state.disconnect(first)
        return refused, state.connect()
    refused, later = run(scenario())
    assert refused is None and later is not None
