"""A remote party's call through a real TURN server (issue 17): coturn on loopback with
``use-auth-secret``, the relay configured with its URL and secret, the unit's ``[meet]
ice_servers`` naming the same URL. The phone takes the ICE servers of its ``admitted`` frame
and calls with relayed candidates only, so the call can only come up through coturn; its
media is sealed on the unit's chain and coturn's log shows the allocations under the
relay-issued usernames. And coturn refuses what docs/meet.md says it refuses: an expired
credential and one made with another secret.

coturn is Debian's package ``coturn`` (``./dev`` installs it); without it these tests fail.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from firmware.evidence.verify import verify_path
from firmware.office.meet.settings import parse_settings
from firmware.office.meet.turn import turn_credentials
from tests.meet.conftest import ZHAO_ID
from tests.meet.counter_unit import (WAIT, bound_unit, events, finish, press_next,
                                     prompt_done)
from tests.meet.parts import RelayThread, record_and_read_notice, run_scenario
from tests.meet.remote_phone import Phone
from tests.meet.turn_server import TurnServer
from tests.remote.remote_rig import FaceTrack, WavTrack, write_tone_wav

SCRIPTS = Path(__file__).resolve().parent / "scripts"
DEVICE = "dr-turn-unit"


@pytest.fixture(scope="module")
def turn(tmp_path_factory):
    with TurnServer(tmp_path_factory.mktemp("coturn")) as server:
        yield server


def relay_only(servers: list[dict]) -> RTCConfiguration:
    """A browser's configuration from the ``ice_servers`` of its ``admitted`` frame, with
    relayed candidates only (``iceTransportPolicy: "relay"``)."""
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=s["urls"], username=s.get("username"),
                                 credential=s.get("credential")) for s in servers],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY)


def selected_pair(pc: RTCPeerConnection) -> tuple[str, str]:
    """The types (host, srflx, prflx, relay) of the local and remote candidates of the pair
    ICE nominated. aiortc 1.16 has no public getter (its stats have no candidate-pair
    report): the transceiver's RTCDtlsTransport -> RTCIceTransport -> aioice 0.13
    ``Connection._nominated`` (component 1: RTP and RTCP are bundled and muxed)."""
    ice = pc.getTransceivers()[0].receiver.transport.transport
    pair = ice._connection._nominated[1]
    return pair.local_candidate.type, pair.remote_candidate.type


class RelayOnlyPhone(Phone):
    """The session tests' phone, calling with the ICE servers its ``admitted`` frame named and
    relayed candidates only; it keeps when (``time.monotonic()``) it began its offer, had
    gathered its candidates, applied the unit's answer and connected."""

    def __init__(self, relay_url: str, meeting: str, wav: Path) -> None:
        super().__init__(relay_url, meeting, wav)
        self.ice_servers: list[dict] = []
        self.offered_at = self.gathered_at = self.answered_at = self.connected_at = 0.0
        self.connected = threading.Event()

    def join(self, code: str, seats: list[int], name: str, id_last4: str) -> dict:
        admitted = super().join(code, seats, name, id_last4)
        self.ice_servers = admitted["ice_servers"]
        return admitted

    async def _offer(self) -> str:
        pc = RTCPeerConnection(relay_only(self.ice_servers))
        self._pc = pc
        self._tracks = [FaceTrack(), WavTrack(self.wav)]
        for track in self._tracks:
            pc.addTrack(track)
        pc.on("track", lambda track: self._loop.spawn(self._eat(track), "eat"))

        @pc.on("connectionstatechange")
        def _state() -> None:
            if pc.connectionState == "connected" and not self.connected.is_set():
                self.connected_at = time.monotonic()
                self.connected.set()
        self.offered_at = time.monotonic()          # the camera and microphone are open
        await pc.setLocalDescription(await pc.createOffer())
        self.gathered_at = time.monotonic()
        return pc.localDescription.sdp

    def call(self) -> None:
        super().call()
        self.answered_at = time.monotonic()

    def candidate_types(self) -> list[str]:
        """The types of the candidates in the phone's offer."""
        return [line.split(" typ ")[1].split()[0] for line in
                self._pc.localDescription.sdp.splitlines() if line.startswith("a=candidate:")]

    def selected_pair(self) -> tuple[str, str]:
        async def read() -> tuple[str, str]:
            return selected_pair(self._pc)
        return self._loop.run(read(), WAIT)


def start_relay(broker, pki, tmp_path, turn, secret: bytes) -> RelayThread:
    """A relay naming only the coturn, making TURN credentials with ``secret``."""
    secret_file = tmp_path / "turn-secret"
    secret_file.write_bytes(secret + b"\n")
    cert, key = pki.operator("meet.relay")
    settings = parse_settings({"relay": {"name": "relay", "join_timeout_seconds": 10},
                               "broker": {"ca_file": pki.ca_file, "client_cert": cert,
                                          "client_key": key},
                               "ice": {"servers": [turn.url],
                                       "turn_secret_file": str(secret_file)}})
    return RelayThread(settings, broker.operator_url)


@pytest.fixture
def relay(broker, pki, tmp_path, turn):
    """The relay naming only the coturn, with its secret."""
    started = start_relay(broker, pki, tmp_path, turn, turn.secret)
    yield started
    started.stop()


def test_a_party_calls_through_coturn_with_the_relays_credentials(
        tmp_path, broker, pki, relay, turn, watch):
    """The phone may use coturn's relayed address only; the call comes up, the party's media
    is sealed, the pair ICE chose on the phone is relayed, and coturn allocated under the
    browser's and the unit's relay-issued usernames. The session then ends and verifies."""
    with bound_unit(tmp_path, broker, pki, device=DEVICE, template="remote-quick",
                    scripts=SCRIPTS, meet={"ice_servers": turn.url}) as (app, records, _s):
        phone = None
        try:
            notice = record_and_read_notice(app, broker, pki)
            records.wait(lambda w: events(w, "node_start", node="consent"), WAIT)
            sid = app.flow.snapshot.session_id

            phone = RelayOnlyPhone(relay.url, notice["meeting"],
                                   write_tone_wav(tmp_path / "tone.wav"))
            admitted = phone.join(notice["code"], [0], "赵敏", ZHAO_ID[-4:])
            [server] = admitted["ice_servers"]
            assert server["urls"] == [turn.url]
            browser_user = server["username"]
            assert browser_user.split(":", 1)[1] == f"b{notice['meeting'][:12]}p1"
            phone.call()
            assert set(phone.candidate_types()) == {"relay"}   # nothing but coturn's address
            assert phone.connected.wait(WAIT), "the call through coturn did not connect"
            records.wait(lambda w: events(w, "remote_joined", party="p1"), WAIT)
            records.wait(lambda w: w.of("SEGMENT", stream="remote_video", party="p1")
                         and w.of("SEGMENT", stream="remote_audio", party="p1"), WAIT)
            phone.wait_received(video=5, audio=25)             # and the counter, back through it
            local, remote = phone.selected_pair()
            assert local == "relay", (local, remote)
            [joined] = events(records, "remote_joined", party="p1")    # on the unit's chain:
            assert (joined["local_candidate"], joined["remote_candidate"]) == (remote, "relay")
            assert joined["unit_candidates"].get("relay") == 1, joined   # the unit's allocation
            turn.wait_allocation(browser_user)
            # the unit's own credentials (u<meeting>), from the join request, were taken too
            unit_user = f"u{notice['meeting'][:12]}"
            turn.wait_line(lambda line: f":{unit_user}>: incoming packet ALLOCATE "
                           "processed, success" in line, "the unit's allocation")
            print(f"\nTURN call: offer to connected {phone.connected_at - phone.offered_at:.3f} s"
                  f" (gathered {phone.gathered_at - phone.offered_at:.3f} s, answer applied "
                  f"{phone.answered_at - phone.offered_at:.3f} s); the phone's pair {local} -> "
                  f"{remote}")

            prompt_done(records, "consent")
            press_next(app, records, expect_node="facts")
            prompt_done(records, "facts")
            press_next(app, records, expect_node="close")
            prompt_done(records, "close")
            press_next(app, records)
            finish(app, records)
        finally:
            if phone is not None:
                phone.close()
        assert phone.errors == []
        report = verify_path(app.evidence.spool.root)
        assert report.ok, report.findings
        session = [r for r in records.records if r.session == sid]
        assert [r for r in session if r.type == "SEGMENT"
                and r.data.get("stream") == "remote_video" and r.data.get("party") == "p1"]


def test_a_turn_server_that_refuses_the_unit_is_seen_on_the_chain(
        tmp_path, broker, pki, turn, watch):
    """A relay whose TURN secret is not the coturn's: the unit's allocation is refused, which
    aiortc lets pass in silence (the unit offers its host candidates only). The call still
    comes up directly on loopback, and remote_joined shows no relay candidate of the unit's:
    an operator sees that TURN failed before a phone behind a NAT cannot join."""
    relay = start_relay(broker, pki, tmp_path, turn, b"not-" + turn.secret)
    phone = None
    try:
        with bound_unit(tmp_path, broker, pki, device=DEVICE, template="remote-quick",
                        scripts=SCRIPTS, meet={"ice_servers": turn.url}) as (app, records, _s):
            try:
                notice = record_and_read_notice(app, broker, pki)
                records.wait(lambda w: events(w, "node_start", node="consent"), WAIT)
                phone = Phone(relay.url, notice["meeting"], write_tone_wav(tmp_path / "t.wav"))
                phone.join(notice["code"], [0], "赵敏", ZHAO_ID[-4:])
                phone.call()                    # host candidates: it needs no TURN here
                records.wait(lambda w: events(w, "remote_joined", party="p1"), WAIT)
                [joined] = events(records, "remote_joined", party="p1")
                unit_user = f"u{notice['meeting'][:12]}"
                turn.wait_line(lambda line: f":{unit_user}>" in line and "401" in line,
                               "coturn refusing the unit's allocation")
                assert "relay" not in joined["unit_candidates"], joined
                assert joined["unit_candidates"].get("host", 0) >= 1, joined
                app.hardware.panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
                records.wait(lambda w: w.of("SESSION_END"), WAIT)
            finally:
                if phone is not None:
                    phone.close()
    finally:
        relay.stop()
    assert phone.errors == []


async def _gather_relayed(url: str, username: str, password: str) -> list[str]:
    """The candidates a relay-only peer gathers with these credentials (its offer's lines)."""
    pc = RTCPeerConnection(relay_only([{"urls": [url], "username": username,
                                        "credential": password}]))
    try:
        pc.addTrack(FaceTrack())
        await pc.setLocalDescription(await pc.createOffer())
        return [line for line in pc.localDescription.sdp.splitlines()
                if line.startswith("a=candidate:")]
    finally:
        await pc.close()


@pytest.mark.parametrize("case", ["fresh", "expired", "wrong_secret"])
def test_coturn_takes_only_fresh_credentials_made_with_its_secret(turn, case):
    """The relay's credential rule against the real coturn: one made now with its secret
    allocates; one that expired an hour ago, or one made with another secret, is refused
    (401) and a relay-only peer gathers nothing."""
    user = f"b{case.replace('_', '')}"
    now = time.time()
    secret, start = {"fresh": (turn.secret, now), "expired": (turn.secret, now - 3600),
                     "wrong_secret": (b"not-" + turn.secret, now)}[case]
    username, password = turn_credentials(secret, user, start, 60)
    candidates = run_scenario(lambda: _gather_relayed(turn.url, username, password))
    if case == "fresh":
        assert len(candidates) == 1 and " typ relay " in candidates[0], candidates
        turn.wait_allocation(username)
        return
    assert candidates == []
    refused = turn.wait_line(lambda line: f"user <{username}>: incoming packet message "
                             "processed, error 401" in line, "the 401 to " + username)
    assert "Unauthorized" in refused
    assert not turn.allocated(username)
