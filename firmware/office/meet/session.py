"""One browser's WebSocket on the relay, from the code to the end of the call.

The connection's own state (the grant a right code gave, the party it became) lives only as
long as the WebSocket: a browser that lands on another relay comes back with its resume token,
and the unit — the only one that knows the meeting — decides again.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from firmware.protocol.mqtt import meet
from firmware.protocol.mqtt.meet import MeetPayloadError, decode, identity_proof
from firmware.protocol.mqtt.meet_messages import JoinAnswer, JoinRequest, MeetingState, read_signal
from firmware.office.meet.browser import BrowserMessage, read_browser
from firmware.office.meet.limits import Buckets
from firmware.office.meet.turn import ice_servers

if TYPE_CHECKING:
    from firmware.office.meet.relay import Relay

log = logging.getLogger(__name__)


class BrowserSession:
    def __init__(self, relay: "Relay", ws: web.WebSocketResponse, address: str,
                 meeting_id: str) -> None:
        self.relay, self.ws, self.address, self.meeting = relay, ws, address, meeting_id
        self.device = self.status = ""
        self.grant = ""
        self.party = ""
        self.requests: set[str] = set()
        self.replaced = False
        self._ending = False
        self._messages = Buckets(relay.limits.messages_per_second * 2,
                                 relay.limits.messages_per_second * 60, time.monotonic, 1)
        self._watching: list[tuple[str, Any]] = []
        self._early: list[dict[str, Any]] = []     # to-party messages before admission

    # -- the connection ----------------------------------------------------------------------
    async def run(self) -> None:
        limits = self.relay.limits
        broker = self.relay.broker
        state = await broker.lookup(self.meeting, limits.join_timeout_seconds)
        if state is None:
            await self.send(type="error", reason="unknown_meeting")
            return
        self.device, self.status = state.device, state.status
        await self._watch(meet.meeting_topic(self.device, self.meeting, meet.ANSWER),
                          broker.answer_seen)
        await self._watch(meet.meeting_topic(self.device, self.meeting, meet.STATE),
                          self._state_seen)
        await self._watch(meet.parties_filter(self.device, self.meeting), self._party_seen)
        await self.send(type="meeting", status=state.status, joins_until=state.joins_until)
        deadline = asyncio.get_running_loop().time() + limits.max_connection_minutes * 60
        while not self.ws.closed:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                await self.send(type="bye", reason="time_up")
                return
            # the idle rule holds until admission: a browser in a call has nothing more to
            # say (its media goes to the unit), and the WebSocket's heartbeat ends a dead one
            wait = left if self.party else min(left, limits.idle_seconds)
            try:
                msg = await asyncio.wait_for(self.ws.receive(), wait)
            except asyncio.TimeoutError:
                if self.party:
                    continue        # the connection's time is up: said at the loop's top
                await self.send(type="bye", reason="idle")
                return
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if msg.type == WSMsgType.ERROR:
                log.info("relay: a browser connection failed: %s", self.ws.exception())
                return
            if not self._messages.allow("all"):
                await self.send(type="error", reason="too_many_messages")
                return
            if msg.type != WSMsgType.TEXT:
                await self.send(type="error", reason="malformed", field="$",
                                rule="frames are JSON text")
                continue
            try:
                message = read_browser(msg.data, limits.max_message_bytes)
            except MeetPayloadError as exc:
                await self.send(type="error", reason="malformed", field=exc.field,
                                rule=exc.rule)
                continue
            await self._handle(message)

    async def close(self) -> None:
        """Undo the watches; tell the unit the party's connection is gone."""
        for topic_filter, handler in self._watching:
            self.relay.broker.unwatch(topic_filter, handler)
        self._watching.clear()
        if self.party and not self.replaced:
            self.relay.broker.publish(
                meet.meeting_topic(self.device, self.meeting, meet.TO_UNIT),
                {"v": 1, "party": self.party, "kind": "bye", "reason": "hangup"},
                meet.SIGNAL_EXPIRY_S)
        self.relay.sessions.discard(self)

    async def send(self, **frame: Any) -> None:
        if not self.ws.closed:
            await self.ws.send_json(frame)

    # -- steps ---------------------------------------------------------------------------------
    async def _handle(self, m: BrowserMessage) -> None:
        if m.type == "signal":
            if not self.party:
                await self.send(type="error", reason="not_joined")
                return
            self.relay.broker.publish(meet.meeting_topic(self.device, self.meeting, meet.TO_UNIT),
                                      {"v": 1, "party": self.party, **m.signal},
                                      meet.SIGNAL_EXPIRY_S)
            return
        if self.party:
            await self.send(type="error", reason="already_joined")
            return
        limiter = self.relay.guesses
        allowed = limiter.addresses.allow(self.address) if m.type == "resume" else \
            limiter.allow(self.address, self.meeting)
        if not allowed:
            await self.send(type="refused", step=m.type, reason="rate_limited")
            return
        request = self._request(m)
        if request is None:
            await self.send(type="refused", step=m.type, reason="bad_grant")
            return
        self.requests.add(request.request)
        answer = await self.relay.broker.request(self.device, self.meeting, request,
                                                 self.relay.limits.join_timeout_seconds)
        if answer is None:
            await self.send(type="error", reason="unit_unreachable")
        elif not answer.ok:
            frame = {"type": "refused", "step": m.type, "reason": answer.reason}
            if answer.tries_left is not None:
                frame["tries_left"] = answer.tries_left
            await self.send(**frame)
        elif m.type == "code":
            self.grant = answer.grant
            await self.send(type="choices", choices=[c.as_dict() for c in answer.choices])
        else:
            await self._admitted(answer)

    def _request(self, m: BrowserMessage) -> JoinRequest | None:
        rid = secrets.token_urlsafe(12)
        if m.type == "code":
            return JoinRequest(rid, "code", code=m.code)
        unit_ice = self._ice(f"u{self.meeting[:12]}")
        if m.type == "resume":
            return JoinRequest(rid, "resume", token=m.token, ice=unit_ice)
        if not self.grant:
            return None
        return JoinRequest(rid, "identify", grant=self.grant, seats=m.seats,
                           proof=identity_proof(self.grant, m.name, m.id_last4), ice=unit_ice)

    async def _admitted(self, answer: JoinAnswer) -> None:
        self.party, self.grant = answer.party, ""
        browser_ice = self._ice(f"b{self.meeting[:12]}{self.party}")
        await self.send(type="admitted", party=self.party, token=answer.token,
                        seats=list(answer.seats), roles=list(answer.roles),
                        ice_servers=[s.as_dict() for s in browser_ice])
        early, self._early = self._early, []
        for message in early:
            self._forward(message)

    def _ice(self, user: str) -> tuple[meet.IceServer, ...]:
        ice = self.relay.settings.ice
        return ice_servers(ice.servers, self.relay.turn_secret, user, time.time(),
                           ice.credential_seconds)

    # -- from the broker (on the loop) -----------------------------------------------------------
    async def _watch(self, topic_filter: str, handler: Any) -> None:
        await self.relay.broker.watch(topic_filter, handler)
        self._watching.append((topic_filter, handler))

    def answer_for_party(self, answer: JoinAnswer) -> None:
        """Another connection (here or on another relay) became this party: this one ends."""
        if answer.ok and self.party and answer.party == self.party and \
                answer.request not in self.requests and answer.step != "code":
            self.replaced = True
            self._spawn(self._end("replaced"))

    def _party_seen(self, topic: str, payload: bytes) -> None:
        try:
            message = read_signal(decode(payload))
        except MeetPayloadError as exc:
            log.warning("relay: a malformed message from the unit dropped (%s)", exc)
            return
        if not self.party and self.requests and len(self._early) < 32:
            self._early.append(message)       # perhaps ours: the answer is on its way
        elif message["party"] == self.party:
            self._forward(message)

    def _forward(self, message: dict[str, Any]) -> None:
        if message.pop("party") != self.party:
            return
        message.pop("v", None)
        if message["kind"] == "bye":
            self.replaced = True          # the unit ended it: nothing to tell it back
            self._spawn(self._end(message.get("reason", "closed")))
        else:
            self._spawn(self.send(type="signal", signal=message))

    def _state_seen(self, topic: str, payload: bytes) -> None:
        if not payload:                   # the retained state cleared: the meeting ended
            self._spawn(self._end("closed"))
            return
        try:
            state = MeetingState.read(decode(payload))
        except MeetPayloadError:
            return
        if not self.party and state.status != self.status:
            self.status = state.status
            self._spawn(self.send(type="meeting", status=state.status,
                                  joins_until=state.joins_until))

    async def _end(self, reason: str) -> None:
        if self._ending:
            return
        self._ending = True
        await self.send(type="bye", reason=reason)
        await self.ws.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.relay.tasks.add(task)
        task.add_done_callback(self.relay.tasks.discard)
