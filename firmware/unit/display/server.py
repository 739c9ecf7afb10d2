"""The customer's screen server: the page and its update stream, on its own thread and loop.

The session flow talks to it through this class only::

    server = DisplayServer("127.0.0.1:8470", library, flow.screen_input,
                           clock=clock, on_change=flow.screen_changed)
    server.start()                 # binds (OSError if it cannot), serves on its own thread
    server.publish(view)           # any thread; the screen shows it at once
    server.signature_begin(pad.info); server.signature_sample(s); server.signature_stroke_end()
    server.close()                 # safe twice

Threading contract: :meth:`publish` and the ``signature_*`` methods may be called from any
thread and return at once; ``on_change`` is called in the calling thread, after the change is
queued to the screens. ``on_input`` is called on the server's own thread and must not block
(queue the event to the flow's worker). If the server's thread fails, ``on_fault(exc)`` is
called once and :attr:`fault` holds the exception; the screen is then gone (the flow decides).

aiohttp rather than Starlette + uvicorn: one library is the whole stack (server, routing, static
files, streaming responses), it runs on an event loop we own in our own thread through its
``AppRunner``/``SockSite`` API on a socket we bind ourselves (uvicorn wants to own the loop and
the process's signals), and it cancels a stream's handler when its screen disconnects, so the
count of screens is always current.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from aiohttp import web

from drivers.clock.base import Clock
from drivers.clock.system import SystemClock
from drivers.sigpad.base import PadInfo, PenSample
from firmware.evidence import canonical
from firmware.unit.display.documents import DocumentLibrary
from firmware.unit.display.errors import DisplayClosedError
from firmware.unit.display.events import InputEvent, ScreenChange
from firmware.unit.display.listen import ListenAddress
from firmware.unit.display.screen_app import ScreenApp
from firmware.unit.display.stream import ScreenState
from firmware.unit.display.view import DisplayView

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
SYSTEM_CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
SHUTDOWN_S = 2.0


def _sha256(data: object) -> str:
    return hashlib.sha256(canonical.encode(data)).hexdigest()


class DisplayServer:
    """Serves the customer's screen on ``listen`` (``"127.0.0.1:PORT"``; a non-loopback
    address only with ``allow_non_loopback``). ``documents`` is the library of the pages of
    reading nodes; ``on_input`` gets the screen's :class:`InputEvent`\\ s."""

    def __init__(self, listen: str, documents: DocumentLibrary,
                 on_input: Callable[[InputEvent], None], *, clock: Clock | None = None,
                 on_change: Callable[[ScreenChange], None] | None = None,
                 on_fault: Callable[[BaseException], None] | None = None,
                 max_clients: int = 4, allow_non_loopback: bool = False,
                 static_dir: Path = STATIC_DIR,
                 font_file: Path | None = SYSTEM_CJK_FONT) -> None:
        self.address = ListenAddress.parse(listen, allow_non_loopback=allow_non_loopback)
        self.documents = documents
        self.clock = clock or SystemClock()
        self._on_input = on_input
        self._on_change = on_change
        self._on_fault = on_fault
        self._static_dir = static_dir
        self._font_file = font_file
        self._state = ScreenState(self.clock.monotonic_ns, max_clients)
        self._lock = threading.Lock()          # the view, the part hashes, the lifecycle
        self._view: DisplayView | None = None
        self._hashes: dict[str, str] = {}
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._stopped: asyncio.Event | None = None
        self._closed = False
        self.fault: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` of the page (the real port once started)."""
        return f"http://{self.address.netloc(self._port)}/"

    @property
    def viewers(self) -> int:
        """How many screens are connected to the stream now."""
        return self._state.viewers

    def _netlocs(self) -> set[str]:
        netloc = self.address.netloc(self._port)
        return {netloc, f"localhost:{self._port}"} if self.address.host in ("127.0.0.1", "::1") \
            else {netloc}

    def start(self) -> None:
        """Bind and serve; returns when the server accepts connections (OSError if it cannot
        bind: the message names the address)."""
        with self._lock:
            if self._closed:
                raise DisplayClosedError("the display server was closed; make a new one")
            if self._thread is not None:
                raise DisplayClosedError("the display server is already started")
            sock = self.address.bind()
            self._port = sock.getsockname()[1]
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="display-render")
            ready = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(sock, ready),
                                            name="display-server", daemon=True)
            self._thread.start()
        ready.wait()
        if self.fault is not None:
            self.close()
            raise DisplayClosedError(f"the display server did not start: {self.fault}") \
                from self.fault

    def _run(self, sock, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(sock, loop, ready))
        except BaseException as exc:  # noqa: BLE001 - reported to the owner, not swallowed
            self.fault = exc
            log.error("the display server stopped: %s", exc)
            if ready.is_set() and self._on_fault is not None:
                self._on_fault(exc)
        finally:
            self._state.attach(None)
            sock.close()
            loop.close()
            ready.set()

    async def _serve(self, sock, loop: asyncio.AbstractEventLoop,
                     ready: threading.Event) -> None:
        app = ScreenApp(state=self._state, documents=self.documents, clock=self.clock,
                        current_view=lambda: self._view, on_input=self._on_input,
                        static_dir=self._static_dir, font_file=self._font_file,
                        netlocs=self._netlocs, executor=self._executor).build()
        runner = web.AppRunner(app, handle_signals=False, access_log=None,
                               handler_cancellation=True, shutdown_timeout=SHUTDOWN_S)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
            self._stopped = asyncio.Event()
            self._loop = loop
            self._state.attach(loop)
            ready.set()
            await self._stopped.wait()
            self._state.close_all()
        finally:
            await runner.cleanup()

    def close(self) -> None:
        """Stop serving (the screens' streams end); safe to call twice."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
            loop, self._loop = self._loop, None
        if thread is None:
            return
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._stopped.set)
            except RuntimeError:
                pass    # the loop ended on its own; the fault is already reported
        thread.join()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def __enter__(self) -> "DisplayServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what is shown -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise DisplayClosedError("the display server is closed; nothing can be shown")

    def _changed(self, kind: str, at_ns: int, sha: str) -> None:
        if self._on_change is not None:
            self._on_change(ScreenChange(kind, at_ns, sha, self._state.viewers))

    def publish(self, view: DisplayView) -> None:
        """Show ``view`` on every screen; one ScreenChange per part that changed."""
        if not isinstance(view, DisplayView):
            raise TypeError(f"publish takes a DisplayView, not {type(view).__name__}")
        parts = view.parts()
        with self._lock:
            self._check_open()
            changed = []
            for kind, data in parts.items():
                sha = _sha256(data)
                if self._hashes.get(kind) != sha:
                    self._hashes[kind] = sha
                    changed.append((kind, sha))
            self._view = view
            self._state.set_view(parts)
            at_ns = self.clock.monotonic_ns()
        for kind, sha in changed:
            self._changed(kind, at_ns, sha)

    @property
    def view(self) -> DisplayView | None:
        """The view on screen (the last published)."""
        return self._view

    def signature_begin(self, info: PadInfo | None) -> None:
        """Show an empty signature area for a pad of ``info``'s shape (None: hide it)."""
        self._check_open()
        data = self._state.signature_reset(info)
        self._changed("signature", self.clock.monotonic_ns(), _sha256(data))

    def signature_sample(self, sample: PenSample) -> None:
        """One pen sample from the pad (its reader thread): drawn live while the pen is down."""
        self._check_open()
        self._state.signature_sample(sample)

    def signature_stroke_end(self) -> None:
        """The pen lifted: the stroke is complete (a ScreenChange of the whole signature)."""
        self._check_open()
        data = self._state.signature_stroke_end()
        self._changed("signature", self.clock.monotonic_ns(), _sha256(data))
