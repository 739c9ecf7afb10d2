"""A remote 双录 end to end in a real browser (issue 17, Tests): headless Chromium is the remote
policyholder, its fake camera a picture of her ID card (a looped Y4M) and its fake microphone
her answer, 我同意, in the unit's own Kokoro voice followed by silence (a looped WAV: whenever
the unit listens, a whole utterance follows within seconds). She joins by the SMS code, answers
the consent, shows her ID, reads the document page by page and signs with a finger on the join
page; the session verifies and its export shows the counter and the party side by side.

The unit is the appliance as the daemon builds it, with understanding on (Whisper, OCR; media
encrypted to an insurer), on the real mosquitto through a relay. The sale's only customer is
remote (赵敏 is policyholder and insured, seats 0 and 1, one party): the counter's microphone is
not asked for answers, nobody reads on the counter's screen and the pad stays untouched (who
reads and signs: docs/script-templates.md, node_duties). Every wait is on a record of the
chain or Playwright's own, bounded.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

import av
import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from drivers.audio.wav import write_wav
from drivers.camera.documents import IdCard
from firmware.cli.demo_remote_media import write_y4m
from firmware.evidence.crypto import generate_insurer_key
from firmware.evidence.verify import verify_path
from firmware.office.export.export import export_session
from firmware.office.export.media import media_opener
from firmware.office.export.panels import PLACEHOLDER_GREY
from firmware.unit.hardware import shared_speech_cache
from kokoro_models import installed_kokoro
from tests.meet.browser_party import PartyPage, call_chromium, sign_with_a_finger
from tests.meet.conftest import ZHAO_ID
from tests.meet.counter_unit import (WAIT, bound_unit, events, finish, press_next,
                                     prompt_done, sale_spec)
from tests.meet.parts import record_and_read_notice
from tests.meet.reading_unit import NOTICE, PAGES, reading_library
from tests.meet.remote_customer import RATE, CustomerVoice, card_picture
from whisper_models import installed_whisper

SCRIPTS = Path(__file__).resolve().parent / "browser_story_scripts"
DEVICE = "dr-browser-story"
WAIT_MS = 30_000
ANSWER_WAIT = 180.0             # a recognition on a loaded 2-core machine, worker start included
YES = "我同意"
SILENCE_S = 3.0                 # after each 我同意, before Chromium loops the file
ZHAO = IdCard("赵敏", "女", "汉", dt.date(1985, 3, 15), "北京市朝阳区演示路 17 号", ZHAO_ID)
COUNTER_W, COUNTER_H = 320, 240          # the counter camera's picture (counter_unit)


def remote_only_sale(device_id: str) -> dict:
    """赵敏 at home is policyholder and insured (seats 0 and 1); nobody else is a customer."""
    spec = sale_spec(device_id)
    spec["people"] = [dict(spec["people"][0]), dict(spec["people"][0], role="insured")]
    return spec


def saying_yes(root: Path) -> Path:
    """The party's microphone: 我同意 in the unit's Kokoro voice, then :data:`SILENCE_S`."""
    installed_kokoro()
    voice = CustomerVoice(installed_whisper(), shared_speech_cache())
    try:
        voice.render([YES])
        spoken = voice.pcm(YES)
    finally:
        voice.close()
    pcm = np.concatenate([spoken, np.zeros(int(SILENCE_S * RATE), np.int16)])
    return write_wav(root / "yes.wav", pcm, RATE)


@pytest.fixture(scope="module")
def phones(tmp_path_factory) -> Iterator[Browser]:
    """One Chromium: its camera 赵敏's ID card, its microphone her looped 我同意."""
    root = tmp_path_factory.mktemp("party-media")
    card = write_y4m(root / "card.y4m", card_picture(ZHAO), frames=1)
    with call_chromium(saying_yes(root), camera_y4m=card) as browser:
        yield browser


@pytest.fixture
def counter(tmp_path, broker, pki):
    """The unit with understanding on, media encrypted to an insurer, the customer's screen at
    the counter with the quick-reading library; yields ``(app, watch, insurer)``."""
    insurer = generate_insurer_key(tmp_path / "insurer")
    display = {"enabled": True, "listen": "127.0.0.1:0",
               "documents": str(reading_library(tmp_path / "documents"))}
    with bound_unit(tmp_path, broker, pki, device=DEVICE, template="remote-story",
                    scripts=SCRIPTS, spec=remote_only_sale, display=display,
                    understanding={"enabled": True},
                    microphone=("tone", {"freq": 50, "amplitude": 0.001}),   # a quiet room
                    encryption={"insurer_public_key": str(insurer.public_path)}
                    ) as (app, watch, _sales):
        yield app, watch, insurer


def party_reads(page) -> None:
    """The party reads every page on the phone and presses 我已阅读."""
    expect(page.locator("#ps-page")).to_have_attribute("data-shown", f"{NOTICE}:1",
                                                        timeout=WAIT_MS)
    for number in range(1, PAGES + 1):
        expect(page.locator("#ps-page-indicator")).to_have_text(f"第 {number} / {PAGES} 页",
                                                                timeout=WAIT_MS)
        expect(page.locator("#ps-page")).to_have_attribute("data-shown", f"{NOTICE}:{number}",
                                                            timeout=WAIT_MS)
        expect(page.locator("#ps-page-progress")).to_have_attribute("data-unit-read", "yes",
                                                                    timeout=WAIT_MS)
        if number < PAGES:
            page.tap("#ps-page-next")
    expect(page.locator("#ps-read-done")).to_be_enabled(timeout=WAIT_MS)
    page.tap("#ps-read-done")
    expect(page.locator(f".ps-doc-tab.confirmed[data-sha256='{NOTICE}']")).to_be_visible(
        timeout=WAIT_MS)


def test_a_remote_policyholder_joins_answers_shows_her_id_reads_signs_and_is_exported(
        counter, broker, pki, relays, watch, phones, tmp_path):
    app, records, insurer = counter
    relay = relays()
    party = None
    try:
        notice = record_and_read_notice(app, broker, pki)
        records.wait(lambda w: events(w, "node_start", node="welcome"), WAIT)
        sid = app.flow.snapshot.session_id
        party = PartyPage(phones, f"{relay.url}/j/{notice['meeting']}")
        party.join(notice["code"], [0, 1], "赵敏", ZHAO_ID[-4:])
        page = party.page
        party.wait_call_state("通话中")
        records.wait(lambda w: w.of("SEGMENT", stream="remote_audio", party="p1"), WAIT)
        prompt_done(records, "welcome")
        press_next(app, records, expect_node="consent")

        # the consent: her looped 我同意 is heard in the answer window
        records.wait(lambda w: events(w, "answer", node="consent", party="p1"), ANSWER_WAIT)
        press_next(app, records, expect_node="show_id")

        # her ID, shown to her camera all along, read at the ID node
        records.wait(lambda w: events(w, "document_check", node="show_id", party="p1"), WAIT)
        prompt_done(records, "show_id")
        press_next(app, records, expect_node="reading")

        expect(page.locator("#ps-node-title")).to_have_text("阅读投保资料", timeout=WAIT_MS)
        party_reads(page)                       # nobody at the counter must read
        prompt_done(records, "reading")
        press_next(app, records, expect_node="sign")

        expect(page.locator("#ps-signature")).to_have_attribute("data-state", "wanted",
                                                                timeout=WAIT_MS)
        sign_with_a_finger(page, [[(0.1, 0.6), (0.25, 0.3), (0.4, 0.7), (0.55, 0.35)],
                                  [(0.65, 0.3), (0.7, 0.8)], [(0.75, 0.5), (0.9, 0.5)]])
        page.tap("#ps-sign-done")
        expect(page.locator("#ps-signature")).to_have_attribute("data-state", "sealed",
                                                                timeout=WAIT_MS)
        prompt_done(records, "sign")            # nobody at the counter must sign: no pad
        press_next(app, records, expect_node="close")
        prompt_done(records, "close")
        press_next(app, records)
        finish(app, records)
        party.wait_call_state("通话已结束")
    finally:
        if party is not None:
            party.close()

    assert party.errors == [], party.errors
    assert not [url for url in party.requests if not url.startswith(relay.url)]
    assert events(records, "remote_joined", party="p1")
    assert not events(records, "next_refused"), events(records, "next_refused")
    answers = events(records, "answer", node="consent")
    assert [(a["party"], a["meaning"]) for a in answers] == [("p1", "affirmative")], answers
    assert answers[0]["voice_end_ns"] is not None, "her voice was heard in the window"
    [check] = events(records, "document_check", node="show_id", party="p1")
    assert check["outcome"] == "match", check
    shown = [e for e in events(records, "screen_page", party="p1") if e["read"]]
    assert {e["page"] for e in shown} == set(range(1, PAGES + 1))
    assert [r["accepted"] for r in events(records, "screen_read", party="p1")] == [True]
    [sign_end] = events(records, "node_end", node="sign")
    assert {(d["where"], d.get("party")) for d in sign_end["signers"]} == {("remote", "p1")}
    assert not records.of("SEGMENT", stream="signature")     # nothing on the pad
    [signature] = events(records, "remote_signature", party="p1")
    assert signature["strokes"] == 3 and signature["points"] >= 3 * 2
    session_dir = app.evidence.spool.session_dir(sid)
    report = verify_path(session_dir)
    assert report.ok, report.findings

    result = export_session(session_dir, tmp_path / "export",
                            opener=media_opener(insurer.private_path))
    assert result.verified, result.verify and result.verify.findings
    html = result.report.read_text(encoding="utf-8")
    assert "Remote party p1" in html and "roles: policyholder, insured" in html
    panel_w = 640 * COUNTER_H // 480            # the party's 640x480 at the counter's height
    assert (result.video.width, result.video.height) == (COUNTER_W + panel_w, COUNTER_H)
    segments = [s.data for s in records.of("SEGMENT", stream="remote_video", party="p1")
                if s.session == sid]
    # at one of her frames in mid-call: the export has a picture there (a party's frame stands
    # only 0.5 s, and a call's first second can have longer pauses between frames)
    picture = frame_at(result, segments[len(segments) // 2]["first_ns"])
    party_panel = picture[COUNTER_H // 3: COUNTER_H * 2 // 3, COUNTER_W + 8:-8]
    grey = (np.abs(party_panel.reshape(-1, 3).astype(float) - PLACEHOLDER_GREY).max(axis=1)
            < 16).mean()
    assert grey < 0.5, "the party's side shows her picture, not the placeholder"
    print(f"\nexported {result.video.duration_s:.1f} s, {result.video.width}x"
          f"{result.video.height}; the party's 我同意 known "
          f"{(answers[0]['decided_ns'] - answers[0]['voice_end_ns']) / 1e6:.0f} ms after it ended")


def frame_at(result, t_ns: int) -> np.ndarray:
    """The export's picture at ``t_ns`` on the unit's clock (RGB)."""
    t = (t_ns - result.video.t0_ns) / 1e9
    with av.open(str(result.video.path)) as c:
        for frame in c.decode(video=0):
            if float(frame.time) >= t:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"the export has no picture at {t:.2f} s")
