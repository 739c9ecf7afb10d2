"""The screen channel's SCTP association holds a bounded amount of what a party sends
(firmware/unit/remote/sctp_guard.py): aiortc on both sides over loopback, the unit's side a
real RemoteParty recording on a real Evidence store. A hostile party that ignores the unit's
maximum message size, sends fragments that never end, messages behind a gap, or writes to a
stream the unit has no channel on has its association aborted, its connection closed (the
party is not connected any more: NEXT would be refused ``remote_disconnected``), and the
reason on its screen channel; a page that keeps to the bounds is untouched.

The figures (bytes held at the abort, time from the first hostile chunk to the abort) are
printed: ``-s`` shows them.
"""
from __future__ import annotations

import re
import threading
from typing import Callable, Iterator

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from drivers.clock import SimClock
from firmware.evidence.keys import DeviceKey
from firmware.evidence.verify import verify_path
from firmware.unit.remote import RemoteOptions, RemoteParty, signalling_pair
from firmware.unit.remote.party import PartyStatus
from firmware.unit.remote.screen_link import ScreenEvent
from firmware.unit.remote.sctp_guard import (MAX_HELD_BYTES, MAX_HELD_CHUNKS,
                                             MAX_MESSAGE_BYTES, WINDOW_BYTES, SctpGuard,
                                             SctpGuardError, check_transport)
from firmware.unit.remote.loop_thread import EventLoopThread

from session_helpers import wait_for
from tests.meet.conftest import ZHAO_ID, broker, pki, relays  # noqa: F401  (fixtures)
from tests.meet.counter_unit import events, press_next, prompt_done
from tests.meet.parts import record_and_read_notice
from tests.meet.reading_phone import ReadingPhone
from tests.meet.reading_unit import counter_without_screen  # noqa: F401  (a fixture)

from .remote_rig import WAIT, UnitRig, write_tone_wav
from .screen_peer import (FULL_CHUNK, ScreenPeer, messages_behind_a_gap,
                          send_oversized_from, unending_message)

# the session test uses the meet tests' unit (counter_without_screen), broker, pki and relay
HELD = re.compile(r"; (\d+) bytes in (\d+) chunks held$")


class ScreenWatch:
    """Every ScreenEvent of a party, and every status its ``on_change`` tells, with a
    condition to wait on."""

    def __init__(self) -> None:
        self.events: list[ScreenEvent] = []
        self.statuses: list[PartyStatus] = []
        self._cond = threading.Condition()

    def __call__(self, event: ScreenEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def changed(self, status: PartyStatus) -> None:
        with self._cond:
            self.statuses.append(status)
            self._cond.notify_all()

    def wait_status(self, predicate: Callable[[PartyStatus], bool]) -> PartyStatus:
        with self._cond:
            assert self._cond.wait_for(lambda: any(predicate(s) for s in self.statuses),
                                       WAIT), f"statuses: {self.statuses}"
            return next(s for s in self.statuses if predicate(s))

    def wait(self, kind: str) -> ScreenEvent:
        with self._cond:
            assert self._cond.wait_for(lambda: any(e.kind == kind for e in self.events),
                                       WAIT), f"no {kind!r}; got {[e.kind for e in self.events]}"
            return next(e for e in self.events if e.kind == kind)

    def messages(self, count: int) -> list[ScreenEvent]:
        with self._cond:
            assert self._cond.wait_for(
                lambda: sum(e.kind == "message" for e in self.events) >= count, WAIT), \
                f"{sum(e.kind == 'message' for e in self.events)} messages of {count}"
            return [e for e in self.events if e.kind == "message"]


@pytest.fixture(scope="module")
def rig(tmp_path_factory) -> Iterator[UnitRig]:
    root = tmp_path_factory.mktemp("sctp-guard")
    unit = UnitRig(root, DeviceKey.load_or_create(root / "keys" / "device.key"))
    try:
        yield unit
    finally:
        unit.close()


_parties = iter(range(1, 1000))


def call(rig: UnitRig, *, media: bool = False) -> tuple[RemoteParty, ScreenPeer, ScreenWatch]:
    """A new party (``sN``) called by a ScreenPeer, its screen channel open."""
    party = f"s{next(_parties)}"
    unit_end, remote_end = signalling_pair()
    watch = ScreenWatch()
    remote = RemoteParty(rig.evidence, rig.clock, rig.session, party, unit_end, rig.feed,
                         options=RemoteOptions(stall_seconds=0.5, stats_seconds=1.0),
                         on_fault=rig.faults.append, on_change=watch.changed)
    remote.start()
    remote.on_screen(watch)
    peer = ScreenPeer(remote_end, rig.wav, media=media, now_ns=rig.clock.monotonic_ns)
    rig.parties.append(remote)
    rig.browsers.append(peer)
    peer.join()
    peer.wait_open()
    watch.wait("open")
    assert remote.wait_connected(WAIT)
    return remote, peer, watch


def aborted(rig: UnitRig, remote: RemoteParty, watch: ScreenWatch, reason: str,
            first_ns: int) -> tuple[int, int]:
    """The unit aborted for ``reason``: refused, then closed, with it; the connection closed
    and recorded so; the party not connected. The bytes and chunks held at the abort."""
    refused = watch.wait("refused")
    closed = watch.wait("closed")
    assert refused.reason.startswith(reason + ": "), refused.reason
    assert closed.reason == refused.reason and closed.at_ns >= refused.at_ns
    rig.watch.wait(lambda w: bool(w.of("EVENT", kind="remote_connection", party=remote.party,
                                       layer="connection", state="closed")))
    # what the session asks before NEXT: not connected (remote_disconnected)
    watch.wait_status(lambda s: not s.connected)
    assert not remote.connected
    held_bytes, held_chunks = map(int, HELD.search(refused.reason).groups())
    print(f"\n{reason}: {held_bytes} bytes in {held_chunks} chunks held at the abort, "
          f"{(refused.at_ns - first_ns) / 1e6:.1f} ms after the first hostile chunk "
          f"({refused.reason})")
    assert rig.faults == []
    return held_bytes, held_chunks


def test_aiortc_is_shaped_as_the_guard_relies_on():
    """Fails with the list of what moved when an aiortc upgrade changes the SCTP internals
    the guard reads or replaces (see sctp_guard's docstring)."""
    loop = EventLoopThread("shape", lambda exc: None)
    loop.start()
    try:
        async def fresh() -> tuple[RTCPeerConnection, RTCPeerConnection]:
            offerer, answerer = (RTCPeerConnection(RTCConfiguration(iceServers=[]))
                                 for _ in range(2))
            offerer.createDataChannel("screen", negotiated=True, id=0)
            await offerer.setLocalDescription(await offerer.createOffer())
            await answerer.setRemoteDescription(offerer.localDescription)
            return offerer, answerer
        offerer, answerer = loop.run(fresh(), WAIT)
        try:
            check_transport(answerer.sctp)      # raises SctpGuardError naming what moved
            guard = SctpGuard(answerer.sctp, streams=(0,), clock=SimClock(realtime=True),
                              on_abort=lambda abort: None)
            assert answerer.sctp._advertised_rwnd == WINDOW_BYTES
            assert answerer.sctp._receive_data_chunk == guard._data_chunk
            assert guard.held() == (0, 0)
            state = type(answerer.sctp).State
            answerer.sctp._association_state = state.ESTABLISHED
            with pytest.raises(SctpGuardError, match="has started already"):
                check_transport(answerer.sctp)
            answerer.sctp._association_state = state.CLOSED
        finally:
            for pc in (offerer, answerer):
                loop.run(pc.close(), WAIT)
    finally:
        loop.close()


def test_a_page_within_the_bounds_is_untouched(rig):
    remote, peer, watch = call(rig)
    small = [f'{{"type": "page", "document": "d", "page": {i}}}' for i in range(300)]
    peer.send(b"\x01" * 60 * 1024, *small, b"\x02" * 64 * 1024)
    got = watch.messages(302)
    assert [len(e.data) for e in got[:1]] == [60 * 1024] and got[-1].data == b"\x02" * 65536
    assert [e.data for e in got[1:301]] == small
    assert not [e for e in watch.events if e.kind in ("refused", "closed")]
    assert remote.connected and peer.channel.readyState == "open"


def test_a_message_far_over_the_bound_aborts_the_connection(rig):
    remote, peer, watch = call(rig, media=True)
    first_ns = peer.send_oversized(2 * 1024 * 1024)
    held_bytes, _ = aborted(rig, remote, watch, "sctp_oversize", first_ns)
    assert held_bytes <= MAX_MESSAGE_BYTES
    peer.wait_closed()


def test_fragments_that_never_end_abort_the_connection(rig):
    remote, peer, watch = call(rig)
    flood = peer.flood(unending_message(4 * 1024 * 1024))
    assert flood.aborted and flood.bytes < MAX_MESSAGE_BYTES + 32 * FULL_CHUNK
    held_bytes, _ = aborted(rig, remote, watch, "sctp_oversize", flood.first_ns)
    assert MAX_MESSAGE_BYTES - FULL_CHUNK < held_bytes <= MAX_MESSAGE_BYTES


def test_messages_held_behind_a_gap_abort_the_connection(rig):
    remote, peer, watch = call(rig)
    flood = peer.flood(messages_behind_a_gap(4000, FULL_CHUNK))
    assert flood.aborted
    held_bytes, _ = aborted(rig, remote, watch, "sctp_backlog", flood.first_ns)
    assert MAX_HELD_BYTES - FULL_CHUNK < held_bytes <= MAX_HELD_BYTES


def test_many_tiny_chunks_held_abort_the_connection(rig):
    remote, peer, watch = call(rig)
    flood = peer.flood(messages_behind_a_gap(4000, 1), burst=64)
    assert flood.aborted
    held_bytes, held_chunks = aborted(rig, remote, watch, "sctp_backlog", flood.first_ns)
    assert held_chunks == MAX_HELD_CHUNKS and held_bytes == MAX_HELD_CHUNKS


def test_a_stream_without_a_channel_aborts_the_connection(rig):
    remote, peer, watch = call(rig)
    flood = peer.flood([(0x03, 7, 0, b"\x03" * 100)] * 10)
    assert flood.aborted and flood.chunks <= 16
    held_bytes, _ = aborted(rig, remote, watch, "sctp_stream", flood.first_ns)
    assert held_bytes == 0


def test_the_party_calls_again_after_an_abort(rig):
    remote, peer, watch = call(rig)
    peer.flood([(0x03, 9, 0, b"x")])
    watch.wait("closed")
    peer.opened.clear()
    peer.join()                                 # a new connection, a new association
    peer.wait_open()
    assert remote.wait_connected(WAIT)
    peer.send("hello again")
    assert watch.messages(1)[-1].data == "hello again"


# -- in a session: the appliance as the daemon builds it, a phone behind the relay ------------
def test_in_a_session_the_abort_is_recorded_and_next_waits_for_the_party(
        counter_without_screen, broker, pki, relays, tmp_path):  # noqa: F811
    app, records = counter_without_screen
    notice = record_and_read_notice(app, broker, pki)
    records.wait(lambda w: events(w, "node_start", node="consent"), WAIT)
    sid = app.flow.snapshot.session_id
    phone = ReadingPhone(relays().url, notice["meeting"], write_tone_wav(tmp_path / "tone.wav"))
    try:
        phone.join(notice["code"], [0], "赵敏", ZHAO_ID[-4:])
        phone.call()
        records.wait(lambda w: events(w, "remote_joined", party="p1"), WAIT)
        phone.wait_view(lambda v: v["view"]["node"] is not None, "the first step")
        send_oversized_from(phone, 2 * 1024 * 1024)
        records.wait(lambda w: events(w, "remote_screen", party="p1", event="closed"), WAIT)
        prompt_done(records, "consent")
        wait_for(lambda: app.flow.refusal(app.clock.monotonic_ns()) == "remote_disconnected",
                 timeout=WAIT, what="the party seen as disconnected")
        press_next(app, records, refused="remote_disconnected")
        phone.call()                                      # the page calls again
        records.wait(lambda w: len(events(w, "remote_joined", party="p1")) >= 2, WAIT)
        # connected again once its media flows (a stream stays lost until its next frame)
        wait_for(lambda: app.flow.refusal(app.clock.monotonic_ns()) is None, timeout=WAIT,
                 what="NEXT allowed again")
        press_next(app, records, expect_node="reading")  # the session goes on
        app.hardware.panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
        records.wait(lambda w: w.of("SESSION_END"), WAIT)
    finally:
        phone.close()
    refused = events(records, "remote_screen_refused", party="p1")
    assert [r["rule"].split(":")[0] for r in refused] == ["sctp_oversize"], refused
    assert refused[0]["connection"] == 1 and "bytes in" in refused[0]["rule"]
    closed = events(records, "remote_screen", party="p1", event="closed")
    assert closed[0]["connection"] == 1 and closed[0]["at_ns"] >= refused[0]["at_ns"]
    assert events(records, "remote_connection", party="p1", connection=1, layer="connection",
                  state="closed")
    assert verify_path(app.evidence.spool.session_dir(sid)).ok
