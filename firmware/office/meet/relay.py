"""``dualrec-meet``: the relay between remote parties' browsers and the units, through the
fleet's broker (docs/meet.md).

It serves the join page (``/j/<meeting-id>``), one WebSocket per browser (``/ws/<meeting-id>``)
bridged to the meeting's MQTT topics, and ``/healthz`` for the load balancer. It keeps no
meeting state of its own (the broker and the unit hold it), so an insurer runs as many relays
as it needs behind its load balancer (WebSockets stay on the relay they opened on).

Bounds: connections in all and per client address, the WebSocket frame size, messages per
second per connection, idle and total time per connection, the join timeout, and guesses
(codes, identities) per client address and per meeting.

Run it with :meth:`Relay.serve` (the command line) or start it on a loop you own
(:meth:`Relay.start` / :meth:`Relay.stop`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from firmware.office.meet.broker_link import RelayBroker
from firmware.office.meet.limits import ConnectionCount, GuessLimiter, client_address
from firmware.office.meet.session import BrowserSession
from firmware.office.meet.settings import RelaySettings
from firmware.protocol.mqtt.broker import BrokerAddress
from firmware.protocol.mqtt.meet import MEETING_ID

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
HEADERS = {"Content-Security-Policy": "default-src 'self'; connect-src 'self'; "
                                      "img-src 'self'; frame-ancestors 'none'",
           "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Cache-Control": "no-store"}


class Relay:
    def __init__(self, settings: RelaySettings, broker_address: BrokerAddress, *,
                 clock: Any = time.monotonic) -> None:
        self.settings = settings
        self.limits = settings.relay
        self.turn_secret = settings.turn_secret()
        self.broker = RelayBroker(broker_address, name=f"meet-{self.limits.name}",
                                  cert=settings.broker.client_cert,
                                  key=settings.broker.client_key,
                                  ca_file=settings.broker.ca_file)
        self.guesses = GuessLimiter(self.limits.guess_burst,
                                    self.limits.guesses_per_address_per_minute,
                                    self.limits.guesses_per_meeting_per_minute, clock)
        self.connections = ConnectionCount(self.limits.max_connections,
                                           self.limits.max_connections_per_address)
        self.sessions: set[BrowserSession] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.broker.on_answer(self._answer_seen)

    # -- life ----------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.limits.max_message_bytes)
        app.router.add_get("/j/{meeting}", self._join_page)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/ws/{meeting}", self._websocket)
        app.router.add_get("/healthz", self._health)
        app.on_response_prepare.append(_headers)
        return app

    async def start(self, host: str, port: int) -> None:
        await self.broker.start()
        self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("dualrec-meet %s listening on %s:%d", self.limits.name, host, self.port)

    async def stop(self) -> None:
        for session in list(self.sessions):
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self.tasks):
            task.cancel()
        self.broker.close()

    async def serve(self, host: str, port: int, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set (the command line sets it on SIGTERM/SIGINT)."""
        await self.start(host, port)
        try:
            await stop.wait()
        finally:
            await self.stop()

    # -- handlers ----------------------------------------------------------------------------------
    async def _join_page(self, request: web.Request) -> web.StreamResponse:
        if not MEETING_ID.fullmatch(request.match_info["meeting"]):
            raise web.HTTPNotFound(text="no such meeting link")
        return web.FileResponse(STATIC_DIR / "join.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ("join.js", "call.js", "party_screen.js", "join.css", "party_screen.css",
                        "icon.svg"):
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC_DIR / name)

    async def _health(self, request: web.Request) -> web.Response:
        ok = self.broker.connected
        return web.json_response({"broker": ok, "connections": self.connections.open},
                                 status=200 if ok else 503)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        meeting = request.match_info["meeting"]
        if not MEETING_ID.fullmatch(meeting):
            raise web.HTTPNotFound(text="no such meeting link")
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            raise web.HTTPForbidden(text="a meeting is joined from its own page only")
        address = client_address(request.remote or "", request.headers.get("X-Forwarded-For"),
                                 self.limits.trusted_proxies)
        ws = web.WebSocketResponse(max_msg_size=self.limits.max_message_bytes, heartbeat=30)
        await ws.prepare(request)
        if not self.connections.enter(address):
            await ws.send_json({"type": "error", "reason": "too_many_connections"})
            await ws.close()
            return ws
        session = BrowserSession(self, ws, address, meeting)
        self.sessions.add(session)
        try:
            await session.run()
        except Exception:
            log.exception("relay: a browser session failed")
        finally:
            self.connections.leave(address)
            await session.close()
            await ws.close()
        return ws

    def _answer_seen(self, answer: Any) -> None:
        for session in list(self.sessions):
            session.answer_for_party(answer)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    for key, value in HEADERS.items():
        response.headers.setdefault(key, value)
