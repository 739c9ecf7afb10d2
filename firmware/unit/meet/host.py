"""The unit's side of a remote meeting: the code, who may join, and one Signalling per party.

Wiring (the composition root)::

    host = MeetingHost(device_id, bus, clock, MeetingSettings.from_config(config.meet),
                       on_admit=media.add_party, on_event=record_meeting_event,
                       on_error=report)
    opened = host.open(ticket)      # a random meeting id and 6-digit code; the back office
                                    # gets the code on ``notice`` and sends the SMS
    ...                             # parties join through a relay; media gets Signalling
    host.end()                      # everyone gets bye; the meeting's retained state is cleared
    host.close()                    # safe twice

The code admits each remote seat once, for ``code_minutes`` (the unit's clock), and
``max_wrong_tries`` wrong codes or identities lock it (an event, the retained state, a notice
to the back office); a party that dropped comes back with its resume token, also after the
code expired or locked. The code is compared in constant time and never leaves the host except
in the ``opened`` notice (it is in no event, log line or exception).

Threading contract: join requests and signalling arrive on the bus's thread; ``on_admit`` and
``on_event`` are called there (or on the caller's thread for open/end/release/tick), never
with the host's lock held, and must not block. A failure while handling a message goes to
``on_error``; the message is dropped, never half-executed.
"""
from __future__ import annotations

import hmac
import logging
import secrets
import threading
from typing import Callable

from drivers.clock.base import Clock
from firmware.protocol.mqtt import meet
from firmware.protocol.mqtt.meet import (ANSWER, JOIN, NOTICE, STATE, TO_UNIT, MeetPayloadError,
                                         decode, encode)
from firmware.protocol.mqtt.meet_messages import (JoinAnswer, JoinRequest, MeetingNotice,
                                                  MeetingState, read_signal)
from firmware.protocol.mqtt.payloads import utc_iso
from firmware.ticket.model import Ticket
from firmware.unit.meet.bus import MeetingBus
from firmware.unit.meet.errors import MeetingStateError
from firmware.unit.meet.meeting import (GRANT_SECONDS, MAX_GRANTS, MeetingEvent, OpenedMeeting,
                                        Meeting, Outcome, Party)
from firmware.unit.meet.seats import proof_matches, remote_seats
from firmware.unit.meet.settings import MeetingSettings
from firmware.unit.meet.signalling import BusSignalling, PartyInfo, Signalling

log = logging.getLogger(__name__)

class MeetingHost:
    def __init__(self, device_id: str, bus: MeetingBus, clock: Clock,
                 settings: MeetingSettings, *, on_admit: Callable[[Signalling], None],
                 on_event: Callable[[MeetingEvent], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self.device_id = device_id
        self.settings = settings
        self._bus, self._clock = bus, clock
        self._on_admit, self._on_event, self._on_error = on_admit, on_event, on_error
        self._lock = threading.Lock()
        self._meeting: Meeting | None = None
        self._closed = False

    # -- the owner's calls ---------------------------------------------------------------------
    def open(self, ticket: Ticket) -> OpenedMeeting:
        """A new meeting for ``ticket``'s remote people. MeetingStateError if one is open."""
        seats = remote_seats(ticket)
        now = self._clock.monotonic_ns()
        until_ns = now + self.settings.code_minutes * 60 * 1_000_000_000
        until = utc_iso(self._clock.realtime_ns() / 1e9 + self.settings.code_minutes * 60)
        with self._lock:
            if self._closed:
                raise MeetingStateError("the meeting host is closed")
            if self._meeting is not None:
                raise MeetingStateError(f"meeting {self._meeting.id[:8]} is still open; end it "
                                        "before opening another")
            m = Meeting(secrets.token_hex(16), ticket, f"{secrets.randbelow(10**6):06d}",
                         {s.index: s for s in seats}, until_ns, until)
            self._meeting = m
        self._bus.subscribe(self._topic(m, JOIN), self._on_join)
        self._bus.subscribe(self._topic(m, TO_UNIT), self._on_to_unit)
        out = Outcome()
        self._state(m, out)
        out.publish.append((self._topic(m, NOTICE), MeetingNotice(
            self.device_id, m.id, "opened", self._now(), code=m.code, joins_until=until,
            ticket_id=ticket.ticket_id, application_hash=ticket.application_hash,
            seats=tuple(sorted(m.seats))).as_payload(), False, self.settings.code_minutes * 60))
        out.events.append(MeetingEvent("opened", m.id, seats=tuple(sorted(m.seats))))
        self._finish(out)
        log.info("meeting %s opened for %d remote seat(s)", m.id[:8], len(seats))
        return OpenedMeeting(m.id, until, tuple(sorted(m.seats)))

    def parties(self) -> tuple[PartyInfo, ...]:
        """The admitted parties now connected."""
        with self._lock:
            m = self._meeting
            return tuple(p.signalling.info for p in (m.parties.values() if m else ())
                         if p.signalling is not None and not p.signalling.closed)

    @property
    def status(self) -> str | None:
        """``open``, ``locked`` or None (no meeting)."""
        with self._lock:
            return self._meeting.status if self._meeting else None

    def tick(self) -> None:
        """Notice that the code expired (the owner calls this now and then; every join
        request checks it too)."""
        out = Outcome()
        with self._lock:
            if self._meeting is not None:
                self._check_expiry(self._meeting, out)
        self._finish(out)

    def release(self, party: str) -> None:
        """Free ``party``'s seats (its phone died and it lost its resume token): its
        connection ends and the code may seat someone there again, while it is valid."""
        out = Outcome()
        with self._lock:
            m = self._meeting
            p = m.parties.pop(party, None) if m else None
            if p is None:
                raise MeetingStateError(f"no party {party!r} in the meeting")
            if p.signalling is not None:
                out.replaced.append((p.signalling, "closed"))
            out.events.append(MeetingEvent("released", m.id, party,
                                           tuple(s.index for s in p.seats)))
        self._finish(out)

    def end(self) -> None:
        """End the meeting: every party gets bye, relays see it gone, the back office is told."""
        out = Outcome()
        with self._lock:
            m, self._meeting = self._meeting, None
            if m is None:
                return
            for p in m.parties.values():
                if p.signalling is not None:
                    out.replaced.append((p.signalling, "closed"))
            out.publish.append((self._topic(m, STATE), None, True, 0))
            out.publish.append((self._topic(m, NOTICE), MeetingNotice(
                self.device_id, m.id, "closed", self._now()).as_payload(), False,
                meet.NOTICE_EXPIRY_S))
            out.events.append(MeetingEvent("ended", m.id))
        self._bus.unsubscribe(self._topic(m, JOIN))
        self._bus.unsubscribe(self._topic(m, TO_UNIT))
        self._finish(out)

    def close(self) -> None:
        self.end()
        self._closed = True

    def __enter__(self) -> "MeetingHost":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- from the bus ------------------------------------------------------------------------
    def _on_join(self, topic: str, payload: bytes, retained: bool) -> None:
        out = Outcome()
        try:
            try:
                request = JoinRequest.read(decode(payload, meet.MAX_PAYLOAD_BYTES))
            except MeetPayloadError as exc:
                log.warning("meeting: a malformed join request refused (%s)", exc)
                self._refuse_malformed(topic, payload, out)
            else:
                with self._lock:
                    m = self._meeting
                    if m is not None and topic == self._topic(m, JOIN) and not retained:
                        answer = self._answer(m, request, out)
                        out.publish.append((self._topic(m, ANSWER), answer.as_payload(), False,
                                            meet.JOIN_EXPIRY_S))
            self._finish(out)
        except Exception as exc:
            self._report(exc)

    def _on_to_unit(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            try:
                message = read_signal(decode(payload, meet.MAX_PAYLOAD_BYTES))
            except MeetPayloadError as exc:
                log.warning("meeting: a malformed signalling message dropped (%s)", exc)
                return
            with self._lock:
                m = self._meeting
                p = m.parties.get(message["party"]) if m and topic == self._topic(m, TO_UNIT) \
                    else None
                target = p.signalling if p is not None else None
            if target is None:
                log.info("meeting: signalling for an unknown or gone party dropped")
                return
            target.deliver({k: v for k, v in message.items() if k not in ("v", "party")})
        except Exception as exc:
            self._report(exc)

    # -- deciding (the lock is held) -----------------------------------------------------------
    def _answer(self, m: Meeting, r: JoinRequest, out: Outcome) -> JoinAnswer:
        def refuse(reason: str, tries_left: int | None = None) -> JoinAnswer:
            out.events.append(MeetingEvent("refused", m.id, reason=reason, tries=m.wrong_tries))
            return JoinAnswer(r.request, r.step, False, reason, tries_left)

        if r.step == "resume":
            return self._resume(m, r, out) or refuse("bad_token")
        if m.status == "locked":
            return refuse("locked")
        if self._check_expiry(m, out):
            return refuse("expired")
        free = [s for i, s in sorted(m.seats.items()) if i not in m.taken()]
        if r.step == "code":
            if not free:
                return refuse("full")
            if not hmac.compare_digest(r.code.encode(), m.code.encode()):
                return self._wrong_try(m, out, refuse, "wrong_code")
            grant = secrets.token_urlsafe(24)
            m.grants[grant] = self._clock.monotonic_ns() + GRANT_SECONDS * 1_000_000_000
            while len(m.grants) > MAX_GRANTS:
                m.grants.popitem(last=False)
            return JoinAnswer(r.request, r.step, True, grant=grant,
                              choices=tuple(s.choice for s in free))
        if m.grants.get(r.grant, 0) <= self._clock.monotonic_ns():
            return refuse("bad_grant")
        if any(i not in m.seats for i in r.seats):
            return refuse("malformed")
        if any(i in m.taken() for i in r.seats):
            return refuse("seat_taken")
        chosen = tuple(m.seats[i] for i in r.seats)
        if not proof_matches(r.grant, r.proof, chosen):
            return self._wrong_try(m, out, refuse, "identity_mismatch")
        del m.grants[r.grant]
        party = Party(f"p{self._next_party(m)}", chosen, secrets.token_urlsafe(24))
        m.parties[party.party] = party
        self._connect(m, party, r, out, resumed=False)
        return self._admitted(r, party)

    def _resume(self, m: Meeting, r: JoinRequest, out: Outcome) -> JoinAnswer | None:
        found = None
        for party in m.parties.values():
            if hmac.compare_digest(party.token.encode(), r.token.encode()):
                found = party
        if found is None:
            return None
        if found.signalling is not None:
            out.replaced.append((found.signalling, "replaced"))
        found.token = secrets.token_urlsafe(24)
        self._connect(m, found, r, out, resumed=True)
        return self._admitted(r, found)

    def _connect(self, m: Meeting, party: Party, r: JoinRequest, out: Outcome, *,
                 resumed: bool) -> None:
        seats = tuple(s.index for s in party.seats)
        info = PartyInfo(m.id, party.party, seats, tuple(s.role for s in party.seats),
                         party.seats[0].choice.initial, resumed,
                         self.settings.allowed_ice(r.ice))
        topic = meet.party_topic(self.device_id, m.id, party.party)
        signalling = BusSignalling(
            info, lambda msg: self._bus.publish(topic, encode({"v": 1, "party": party.party,
                                                                **msg}),
                                                expiry_s=meet.SIGNAL_EXPIRY_S),
            self._disconnected)
        party.signalling = signalling
        out.admit.append(signalling)
        out.events.append(MeetingEvent("resumed" if resumed else "admitted", m.id, party.party,
                                       seats, info.roles))

    @staticmethod
    def _admitted(r: JoinRequest, party: Party) -> JoinAnswer:
        return JoinAnswer(r.request, r.step, True, party=party.party, token=party.token,
                          seats=tuple(s.index for s in party.seats),
                          roles=tuple(s.role for s in party.seats))

    def _wrong_try(self, m: Meeting, out: Outcome, refuse: Callable[..., JoinAnswer],
                   reason: str) -> JoinAnswer:
        m.wrong_tries += 1
        left = max(0, self.settings.max_wrong_tries - m.wrong_tries)
        if left == 0:
            m.status = "locked"
            m.grants.clear()
            self._state(m, out)
            out.publish.append((self._topic(m, NOTICE), MeetingNotice(
                self.device_id, m.id, "locked", self._now(), tries=m.wrong_tries).as_payload(),
                False, meet.NOTICE_EXPIRY_S))
            out.events.append(MeetingEvent("locked", m.id, tries=m.wrong_tries))
            log.warning("meeting %s locked after %d wrong tries", m.id[:8], m.wrong_tries)
            return refuse("locked", 0)
        return refuse(reason, left)

    def _check_expiry(self, m: Meeting, out: Outcome) -> bool:
        expired = self._clock.monotonic_ns() >= m.joins_until_ns
        if expired and not m.expired_told:
            m.expired_told = True
            m.grants.clear()
            out.publish.append((self._topic(m, NOTICE), MeetingNotice(
                self.device_id, m.id, "expired", self._now()).as_payload(), False,
                meet.NOTICE_EXPIRY_S))
            out.events.append(MeetingEvent("expired", m.id))
        return expired

    def _state(self, m: Meeting, out: Outcome) -> None:
        state = MeetingState(self.device_id, m.id, m.status, m.joins_until, self._now())
        out.publish.append((self._topic(m, STATE), state.as_payload(), True,
                            self.settings.max_meeting_minutes * 60))

    # -- helpers -------------------------------------------------------------------------------
    def _disconnected(self, signalling: BusSignalling) -> None:
        with self._lock:
            m = self._meeting
            p = m.parties.get(signalling.info.party) if m else None
            if p is not None and p.signalling is signalling:
                p.signalling = None
        self._emit(MeetingEvent("disconnected", signalling.info.meeting, signalling.info.party,
                                signalling.info.seats, signalling.info.roles))

    def _refuse_malformed(self, topic: str, payload: bytes, out: Outcome) -> None:
        """Answer a malformed request if its id can be read (so the relay can tell the
        browser); nothing else of it is used."""
        try:
            data = decode(payload, meet.MAX_PAYLOAD_BYTES)
            request, step = data.get("request"), data.get("step")
        except MeetPayloadError:
            return
        with self._lock:
            m = self._meeting
            if m is None or topic != self._topic(m, JOIN) or not isinstance(request, str) \
                    or not meet.REQUEST_ID.fullmatch(request) or step not in meet.JOIN_STEPS:
                return
        out.publish.append((self._topic(m, ANSWER), JoinAnswer(request, step, False,
                            "malformed").as_payload(), False, meet.JOIN_EXPIRY_S))

    def _finish(self, out: Outcome) -> None:
        for topic, payload, retain, expiry in out.publish:
            self._bus.publish(topic, encode(payload) if payload is not None else b"",
                              retain=retain, expiry_s=expiry or None)
        for old, reason in out.replaced:
            old.hang_up(reason, tell_party=reason != "replaced")
        for event in out.events:
            self._emit(event)
        for signalling in out.admit:
            try:
                self._on_admit(signalling)
            except Exception as exc:
                self._report(exc)

    def _emit(self, event: MeetingEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception as exc:
                self._report(exc)

    def _report(self, exc: Exception) -> None:
        log.error("meeting host: %s", exc)
        if self._on_error is not None:
            self._on_error(exc)

    def _topic(self, m: Meeting, leaf: str) -> str:
        return meet.meeting_topic(self.device_id, m.id, leaf)

    def _now(self) -> str:
        return utc_iso(self._clock.realtime_ns() / 1e9)

    @staticmethod
    def _next_party(m: Meeting) -> int:
        used = {int(p[1:]) for p in m.parties}
        return next(n for n in range(1, 100) if n not in used)
