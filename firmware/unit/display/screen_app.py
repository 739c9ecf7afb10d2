"""The aiohttp application of the customer's screen: routes, checks and security headers.

Routes (all relative, so the page also works mounted under a prefix for remote parties):

- ``GET /`` the page; ``GET /static/...`` its scripts and styles; ``GET /fonts/cjk`` the
  Chinese font file of the unit, when present (the page tries the installed font first);
- ``GET /api/events`` the update stream (Server-Sent Events, see :mod:`.stream`);
- ``GET /api/documents/{sha256}/{page}.png?w=WIDTH`` a page of a document of the reading node
  on screen (no other document is served);
- ``POST /api/page``, ``/api/shown`` ``{"document": sha256, "page": n}`` and ``POST /api/read``
  ``{"document": sha256}``: input, checked against the view on screen, to ``on_input``.

Every response carries a strict Content-Security-Policy (only this origin; no inline script),
no framing, no referrer, and ``no-store`` (the page and the stream show personal data). Requests
whose Host is not the configured address are refused (DNS rebinding), as are input posts from
another origin or not JSON (no cross-site form can post), bodies over 4 KiB and more than
``INPUT_RATE`` inputs a second.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from concurrent.futures import Executor
from pathlib import Path
from typing import Callable

from aiohttp import web

from drivers.clock.base import Clock
from firmware.unit.display.documents import DocumentLibrary
from firmware.unit.display.errors import DocumentError
from firmware.unit.display.events import InputEvent
from firmware.unit.display.stream import ScreenState
from firmware.unit.display.view import DisplayView

log = logging.getLogger(__name__)

MAX_BODY = 4096
HEARTBEAT_S = 15.0
INPUT_RATE = 20.0          # inputs per second, sustained
INPUT_BURST = 40
MAX_RENDERS = 4            # page renders in flight
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), usb=(), payment=()",
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
FONT_TYPES = {".ttc": "font/collection", ".ttf": "font/ttf", ".otf": "font/otf",
              ".woff2": "font/woff2", ".woff": "font/woff"}


class _InputBucket:
    """A token bucket on the loop's clock: ``INPUT_RATE`` a second, ``INPUT_BURST`` at once."""

    def __init__(self) -> None:
        self.tokens = float(INPUT_BURST)
        self.last: float | None = None

    def take(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(INPUT_BURST, self.tokens + (now - self.last) * INPUT_RATE)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class ScreenApp:
    """Builds the :class:`aiohttp.web.Application`; its handlers run on the server's loop."""

    def __init__(self, *, state: ScreenState, documents: DocumentLibrary, clock: Clock,
                 current_view: Callable[[], DisplayView | None],
                 on_input: Callable[[InputEvent], None], static_dir: Path,
                 font_file: Path | None, netlocs: Callable[[], set[str]],
                 executor: Executor) -> None:
        self.state = state
        self.documents = documents
        self.clock = clock
        self.current_view = current_view
        self.on_input = on_input
        self.static_dir = static_dir
        self.font_file = font_file
        self.netlocs = netlocs
        self.executor = executor
        self._bucket = _InputBucket()
        self._renders = 0

    def build(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._guard])
        app.on_response_prepare.append(self._headers)
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", self.static_dir, follow_symlinks=False,
                              show_index=False)
        app.router.add_get("/fonts/cjk", self._font)
        app.router.add_get("/favicon.ico", self._no_icon)
        app.router.add_get("/api/events", self._events)
        app.router.add_get(r"/api/documents/{sha:[0-9a-f]{64}}/{page:[0-9]{1,4}}.png",
                           self._page_png)
        app.router.add_post("/api/page", self._input_page)
        app.router.add_post("/api/shown", self._input_shown)
        app.router.add_post("/api/read", self._input_read)
        return app

    # -- checks and headers --------------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if request.host not in self.netlocs():
            raise web.HTTPMisdirectedRequest(text="this server answers only to its own address")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None and origin.removeprefix("http://") not in self.netlocs():
                raise web.HTTPForbidden(text="input from another origin is refused")
            if request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
                raise web.HTTPForbidden(text="input from another site is refused")
            if request.content_type != "application/json":
                raise web.HTTPUnsupportedMediaType(text="input must be application/json")
            if not self._bucket.take(asyncio.get_running_loop().time()):
                raise web.HTTPTooManyRequests(text="too many inputs; slow down")
        return await handler(request)

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(SECURITY_HEADERS)
        static = request.path.startswith(("/static/", "/fonts/"))
        response.headers["Cache-Control"] = "no-cache" if static else "no-store"

    # -- the page ------------------------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self.static_dir / "index.html",
                                headers={"Content-Type": "text/html; charset=utf-8"})

    async def _no_icon(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def _font(self, request: web.Request) -> web.StreamResponse:
        font = self.font_file
        if font is None or not font.is_file() or font.is_symlink():
            raise web.HTTPNotFound(text="no font file on this unit")
        return web.FileResponse(font, headers={
            "Content-Type": FONT_TYPES.get(font.suffix.lower(), "application/octet-stream")})

    # -- the stream ----------------------------------------------------------------------------
    def _viewers_changed(self) -> None:
        self.on_input(InputEvent("viewers", self.clock.monotonic_ns(),
                                 viewers=self.state.viewers))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        client = self.state.connect()
        if client is None:
            raise web.HTTPServiceUnavailable(text="too many screens are connected")
        try:
            self._viewers_changed()
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                                   "X-Accel-Buffering": "no"})
            await response.prepare(request)
            while True:
                try:
                    payload = await asyncio.wait_for(client.queue.get(), HEARTBEAT_S)
                except asyncio.TimeoutError:
                    payload = b": keep-alive\n\n"
                if payload is None:
                    break
                await response.write(payload)
        except ConnectionError:
            pass    # the screen went away (reload, closed): nothing to report but the count
        finally:
            self.state.disconnect(client)
            self._viewers_changed()
        return response

    # -- documents -----------------------------------------------------------------------------
    def _reading_document(self, sha: str, page: int | None = None):
        view = self.current_view()
        doc = view.reading.document(sha) if view is not None and view.reading else None
        if doc is None:
            raise web.HTTPNotFound(text="that document is not on screen")
        if page is not None and not 1 <= page <= doc.pages:
            raise web.HTTPNotFound(text=f"that document has pages 1 to {doc.pages}")
        return doc

    async def _page_png(self, request: web.Request) -> web.StreamResponse:
        sha, page = request.match_info["sha"], int(request.match_info["page"])
        self._reading_document(sha, page)
        width_text = request.query.get("w", "800")
        if not width_text.isdigit() or not 1 <= int(width_text) <= 4000:
            raise web.HTTPBadRequest(text="w must be a width in pixels, 1..4000")
        if self._renders >= MAX_RENDERS:
            raise web.HTTPServiceUnavailable(text="busy rendering; try again")
        self._renders += 1
        try:
            png = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.documents.render_png, sha, page, int(width_text))
        except DocumentError as exc:
            log.error("page %d of document %s cannot be shown: %s", page, sha, exc)
            raise web.HTTPGone(text="this document cannot be shown") from None
        finally:
            self._renders -= 1
        return web.Response(body=png, content_type="image/png")

    # -- input ---------------------------------------------------------------------------------
    async def _body(self, request: web.Request, keys: set[str]) -> dict:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text="the body is not JSON") from None
        if not isinstance(body, dict) or set(body) != keys:
            raise web.HTTPBadRequest(text=f"the body must have exactly {sorted(keys)}")
        sha = body["document"]
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise web.HTTPBadRequest(text="document must be a SHA-256 in lowercase hex")
        if "page" in keys and (not isinstance(body["page"], int) or isinstance(body["page"], bool)
                               or not 1 <= body["page"] <= 9999):
            raise web.HTTPBadRequest(text="page must be a whole number from 1")
        self._reading_document(sha, body.get("page"))
        return body

    async def _page_input(self, request: web.Request, kind: str) -> web.Response:
        body = await self._body(request, {"document", "page"})
        self.on_input(InputEvent(kind, self.clock.monotonic_ns(), body["document"],
                                 body["page"]))
        return web.json_response({"ok": True})

    async def _input_page(self, request: web.Request) -> web.Response:
        return await self._page_input(request, "page")

    async def _input_shown(self, request: web.Request) -> web.Response:
        return await self._page_input(request, "shown")

    async def _input_read(self, request: web.Request) -> web.Response:
        body = await self._body(request, {"document"})
        self.on_input(InputEvent("read", self.clock.monotonic_ns(), body["document"]))
        return web.json_response({"ok": True})
