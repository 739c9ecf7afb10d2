"""An asyncio event loop on a thread of its own, for aiortc inside a unit made of threads.

Other threads hand work to the loop (:meth:`EventLoopThread.call`, :meth:`EventLoopThread.run`);
tasks the loop runs in the background (:meth:`EventLoopThread.spawn`) report an exception to
the owner's ``on_error`` instead of vanishing with the task.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

from firmware.errors import DualrecError

log = logging.getLogger(__name__)

T = TypeVar("T")


class LoopStateError(DualrecError, RuntimeError):
    """The loop was used when it was not running, or from its own thread where that would
    deadlock."""


class EventLoopThread:
    """Runs one asyncio loop on a daemon thread named ``name``.

    ``on_error(exc)`` is called (on the loop thread) for an exception that escapes a task
    started with :meth:`spawn` or a callback given to :meth:`call`.
    """

    def __init__(self, name: str, on_error: Callable[[BaseException], None]) -> None:
        self.name = name
        self._on_error = on_error
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._unhandled)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._tasks: set[asyncio.Task] = set()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def in_loop(self) -> bool:
        """Whether the caller runs on the loop's thread."""
        return threading.current_thread() is self._thread

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise LoopStateError(f"{self.name}: closed; make a new one")
            if self._thread.is_alive():
                return
            self._thread.start()
        self._started.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._started.set)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def _check_running(self) -> None:
        if self._closed or not self._thread.is_alive():
            raise LoopStateError(f"{self.name}: the loop is not running")

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop soon; from any thread. Ignored once closed."""
        with self._lock:
            if self._closed:
                return
            self._loop.call_soon_threadsafe(self._guarded, fn, args)

    def _guarded(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            fn(*args)
        except Exception as exc:   # reported to the owner
            self._on_error(exc)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait (``timeout`` real seconds) for its result; from
        another thread only. Its exception is raised here; a timeout cancels it."""
        if self.in_loop:
            coro.close()
            raise LoopStateError(f"{self.name}: run() from the loop's own thread would wait "
                                 "for itself; await the coroutine instead")
        with self._lock:
            if self._closed:
                coro.close()
                raise LoopStateError(f"{self.name}: the loop is not running")
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task:
        """Start ``coro`` as a background task (on the loop thread only); its exception goes
        to ``on_error``, its cancellation does not."""
        task = self._loop.create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._on_error(exc)

    def _unhandled(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An exception nobody awaited (aiortc's own tasks): logged with its context. aiortc
        ends such tasks itself; the connection's state change tells the owner what it means."""
        exc = context.get("exception")
        log.warning("%s: %s%s", self.name, context.get("message", "unhandled exception"),
                    f": {exc!r}" if exc is not None else "")

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._loop.shutdown_default_executor()   # threads of run_in_executor

    def close(self, timeout: float = 10.0) -> None:
        """Cancel the background tasks, stop the loop and join its thread. Safe twice; not
        from the loop's own thread."""
        if self.in_loop:
            raise LoopStateError(f"{self.name}: close() from the loop's own thread would wait "
                                 "for itself; call it from another thread")
        with self._lock:
            if self._closed:
                return
            self._closed = True
            running = self._thread.is_alive()
            if running:
                done = asyncio.run_coroutine_threadsafe(self._cancel_tasks(), self._loop)
        if not running:
            self._loop.close()
            return
        try:
            done.result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
