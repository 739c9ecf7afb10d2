"""The remote party's call in a real browser (issue 17): headless Chromium with a fake camera and
a microphone playing a 1 kHz tone opens the relay's join page, types the code and who they are,
and the page's own call.js calls the unit; the unit is the appliance as the daemon builds it,
on the real mosquitto (TLS, the project's ACL) through a relay.

The party's picture and sound are sealed on the session's chain (the tone is in the WAV), the
counter's picture plays on the page, which says 通话中, NEXT is accepted once the party is in;
a reload resumes with the token and calls again on a new connection; the session verifies and
the page logged no error. A party who refuses the camera is told what to do.
"""
from __future__ import annotations

import wave
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from playwright.sync_api import Browser

from firmware.evidence.verify import verify_path
from tests.meet.browser_party import PartyPage, call_chromium
from tests.meet.conftest import LI_ID, ZHAO_ID
from tests.meet.counter_unit import (WAIT, bound_unit, events, finish, press_next,
                                     prompt_done)
from tests.meet.parts import SMS, Listener
from tests.remote.remote_rig import TONE_HZ, RecordWatch, write_tone_wav

SCRIPTS = Path(__file__).resolve().parent / "scripts"
DEVICE = "dr-browser-unit"


@pytest.fixture(scope="module")
def phones(tmp_path_factory) -> Iterator[Browser]:
    """One Chromium for the module, its microphone a looped 1 kHz tone."""
    wav = write_tone_wav(tmp_path_factory.mktemp("microphone") / "tone.wav", seconds=2.0)
    with call_chromium(wav) as browser:
        yield browser


@pytest.fixture
def counter(tmp_path, broker, pki):
    """The unit as the daemon builds it, on the fleet broker, bound to the sale."""
    with bound_unit(tmp_path, broker, pki, device=DEVICE, template="remote-quick",
                    scripts=SCRIPTS) as (app, watch, _sales):
        yield app, watch


@pytest.fixture
def sms(broker, pki):
    listener = Listener(broker, pki, SMS, "dualrec/v1/meet/+/+/notice")
    yield listener
    listener.close()


def dominant_hz(pcm: np.ndarray, rate: int = 48_000) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[int(np.argmax(spectrum))])


def sealed_wav(app, record) -> np.ndarray:
    path = app.evidence.spool.root / next(f.path for f in record.files
                                          if f.path.endswith(".wav"))
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48_000, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def segments(watch: RecordWatch, stream: str, connection: int | None = None) -> list:
    return [r for r in watch.of("SEGMENT", stream=stream, party="p1")
            if connection is None or r.data["connection"] == connection]


def drop_websockets(relay) -> None:
    """The relay ends every browser's WebSocket without a word (a restart, a load balancer's
    timeout): the page is left to come back with its resume token."""
    async def drop() -> None:
        for session in list(relay.relay.sessions):
            await session.ws.close()
    relay.call(drop())


def wait_call(records: RecordWatch, connection: int) -> None:
    """Connection ``connection`` of p1 joined and both its streams sealed a segment."""
    records.wait(lambda w: events(w, "remote_joined", party="p1", connection=connection), WAIT)
    records.wait(lambda w: segments(w, "remote_video", connection)
                 and segments(w, "remote_audio", connection), WAIT)


def test_a_party_calls_from_chromium_is_recorded_and_comes_back_after_a_reload_and_a_drop(
        counter, phones, broker, relays, sms, watch):
    app, records = counter
    relay = relays()
    app.hardware.panel.press("RECORD", 0.1)
    notice = sms.wait_payload("notice", lambda p: p["kind"] == "opened")
    records.wait(lambda w: events(w, "node_start", node="consent"), WAIT)
    sid = app.flow.snapshot.session_id
    party = PartyPage(phones, f"{relay.url}/j/{notice['meeting']}")
    try:
        party.join(notice["code"], [0], "赵敏", ZHAO_ID[-4:])
        to_call = party.wait_call_state("通话中")
        wait_call(records, 1)
        records.wait(lambda w: len(segments(w, "remote_video")) >= 2
                     and len(segments(w, "remote_audio")) >= 3, WAIT)
        seen = party.wait_counter_playing()
        screen = party.screen_channels()
        prompt_done(records, "consent")
        press_next(app, records, expect_node="facts")       # the party is in

        party.reload()                                      # the resume token, a new call
        back = party.wait_call_state("通话中")
        wait_call(records, 2)
        seen_again = party.wait_counter_playing()
        prompt_done(records, "facts")
        press_next(app, records, expect_node="close")

        drop_websockets(relay)                              # resumed on a new WebSocket
        wait_call(records, 3)
        party.wait_call_state("通话中")
        party.wait_counter_playing()
        prompt_done(records, "close")
        press_next(app, records)
        finish(app, records)
        party.wait_call_state("通话已结束")                  # the unit's bye
        camera_after = party.page.evaluate(
            "() => document.getElementById('self-view').srcObject")
    finally:
        party.close()

    print(f"\npage load to 通话中: {to_call:.2f} s; after the reload: {back:.2f} s; "
          f"counter's picture {seen['width']}x{seen['height']}"
          f"{' (muted autoplay)' if seen_again['muted'] else ''}")
    assert party.errors == []
    assert not [u for u in party.requests if not u.startswith(relay.url)], "a foreign request"
    assert screen == [1, "open"], "the customer's-screen channel opened, and was announced"
    assert (seen["width"], seen["height"]) == (320, 240)    # the unit's analysis image
    assert seen["tracks"] == ["audio", "video"]
    assert camera_after is None, "the camera was let go when the unit said bye"

    joined = events(records, "remote_joined", party="p1")
    assert [j["connection"] for j in joined] == [1, 2, 3]
    assert all(j["audio_codec"] == "audio/opus" for j in joined)
    assert all(j["video_codec"] in ("video/H264", "video/VP8") for j in joined)
    assert not events(records, "remote_refused"), "the unit took every offer and candidate"
    meeting = [e["event"] for e in events(records, "remote_meeting")]
    assert meeting.count("resumed") == 2

    session = [r for r in records.records if r.session == sid]
    video = [r for r in session if r.type == "SEGMENT" and r.data.get("stream") == "remote_video"]
    audio = [r for r in session if r.type == "SEGMENT" and r.data.get("stream") == "remote_audio"]
    received = {(v.data["received_width"], v.data["received_height"]) for v in video}
    print(f"sealed: {len(video)} remote_video and {len(audio)} remote_audio segments; "
          f"received {sorted(received)}, codec {joined[0]['video_codec']}")
    # Chromium's fake camera at the asked 640x480 (Chromium may scale down when busy)
    assert (640, 480) in received and all(w <= 640 and h <= 480 for w, h in received)
    assert all(v.data["frames"] > 0 for v in video)
    tone = sealed_wav(app, sorted(audio, key=lambda r: r.seq)[1])
    assert abs(dominant_hz(tone) - TONE_HZ) <= 5, "the tone Chromium's microphone played"

    report = verify_path(app.evidence.spool.root)
    assert report.ok, report.findings
    assert events(records, "remote_left", party="p1")[-1]["reason"] == "unit_closed"


def test_a_party_who_refuses_the_camera_is_told_what_to_do(phones, unit, relays, sms, ticket):
    relay = relays()
    opened = unit.host.open(ticket)
    notice = sms.wait_payload("notice", lambda p: p["kind"] == "opened")
    party = PartyPage(phones, f"{relay.url}/j/{opened.meeting}", camera=False)
    try:
        party.join(notice["code"], [3], "李秀英", LI_ID[-4:])
        unit.next_party()                                   # admitted by the unit
        party.page.wait_for_function(
            "() => document.getElementById('call').dataset.state === 'problem'",
            timeout=30_000, polling=100)
        said = party.call_state()
        help_text = party.page.inner_text("#call-help")
        retry = party.page.is_visible("#call-retry")
        videos = party.page.is_visible("#videos")
    finally:
        party.close()
    assert "摄像头和麦克风的权限" in said
    assert "允许本网站使用摄像头和麦克风" in help_text and retry
    assert not videos
    assert party.errors == []
