"""The remote party reads and signs in a real browser (issue 17): headless Chromium with a fake
camera and microphone opens the relay's join page, joins, and the page's own call.js calls the
unit; party_screen.js, on the call's ``screen`` data channel, shows the step and its captions,
the document page by page (pictures drawn from the unit's chunks under the relay's strict CSP),
and the signature box the party signs in with a "finger" (pointer events). The unit is the
appliance as the daemon builds it, on the real broker through a relay.

The join page loads party_screen.js from the relay, under the relay's headers and CSP.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, expect

from drivers.sigpad import load_events
from firmware.evidence.verify import verify_path
from firmware.unit.hardware import SAMPLE_SIGNATURE
from session_helpers import wait_for
from tests.meet.browser_party import PartyPage, call_chromium, sign_with_a_finger
from tests.meet.conftest import ZHAO_ID
from tests.meet.parts import record_and_read_notice
from tests.meet.counter_unit import WAIT, events, press_next, prompt_done
from tests.meet.reading_unit import NOTICE, PAGES, counter, counter_reads  # noqa: F401
from tests.remote.remote_rig import write_tone_wav

WAIT_MS = 30_000


@pytest.fixture(scope="module")
def phones(tmp_path_factory) -> Iterator[Browser]:
    wav = write_tone_wav(tmp_path_factory.mktemp("microphone") / "tone.wav", seconds=2.0)
    with call_chromium(wav) as browser:
        yield browser


@pytest.fixture
def shots(tmp_path) -> Path:
    out = Path(os.environ.get("DUALREC_SCREENS_DIR") or tmp_path / "screens")
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_a_remote_party_reads_and_signs_on_the_phone_page(counter, broker, pki, relays, watch,
                                                          phones, shots):
    app, records = counter
    relay = relays()
    party = None
    try:
        notice = record_and_read_notice(app, broker, pki)
        records.wait(lambda w: events(w, "node_start", node="consent"), WAIT)
        sid = app.flow.snapshot.session_id
        party = PartyPage(phones, f"{relay.url}/j/{notice['meeting']}")
        party.join(notice["code"], [0], "赵敏", ZHAO_ID[-4:])
        page = party.page
        party.wait_call_state("通话中")
        expect(page.locator("#ps-node-title")).to_have_text("告知与同意", timeout=WAIT_MS)
        expect(page.locator("#ps-node-number")).to_have_text("第 1 / 3 步")
        expect(page.locator("#ps-caption-current")).not_to_be_empty()
        expect(page.locator(".ps-person .ps-name")).to_have_text(["赵*（远程）", "王*"])
        prompt_done(records, "consent")
        press_next(app, records, expect_node="reading")

        expect(page.locator("#ps-node-title")).to_have_text("阅读投保资料", timeout=WAIT_MS)
        expect(page.locator(".ps-doc-tab")).to_have_text(["责任免除条款"])
        expect(page.locator("#ps-page")).to_have_attribute("data-shown", f"{NOTICE}:1",
                                                            timeout=WAIT_MS)
        prompt_done(records, "reading")
        press_next(app, records, refused="remote_reading")
        expect(page.locator("#ps-refusal")).to_have_attribute("data-code", "remote_reading",
                                                              timeout=WAIT_MS)
        page.screenshot(path=str(shots / "remote-reading-390x844.png"), full_page=True)
        for number in range(1, PAGES + 1):
            expect(page.locator("#ps-page-indicator")).to_have_text(f"第 {number} / {PAGES} 页",
                                                                    timeout=WAIT_MS)
            expect(page.locator("#ps-page")).to_have_attribute("data-shown",
                                                                f"{NOTICE}:{number}",
                                                                timeout=WAIT_MS)
            expect(page.locator("#ps-page-progress")).to_have_attribute(
                "data-unit-read", "yes", timeout=WAIT_MS)
            if number < PAGES:
                page.tap("#ps-page-next")
        expect(page.locator("#ps-read-done")).to_be_enabled(timeout=WAIT_MS)
        page.tap("#ps-read-done")
        expect(page.locator(f".ps-doc-tab.confirmed[data-sha256='{NOTICE}']")).to_be_visible(
            timeout=WAIT_MS)
        counter_reads(app, NOTICE, PAGES)
        press_next(app, records, expect_node="sign")

        expect(page.locator("#ps-signature")).to_have_attribute("data-state", "wanted",
                                                                timeout=WAIT_MS)
        expect(page.locator("#ps-needs li[data-need=signature]")).to_be_visible()
        prompt_done(records, "sign")
        press_next(app, records, refused="remote_signing")
        expect(page.locator("#ps-sign-done")).to_be_disabled()
        sign_with_a_finger(page, [[(0.1, 0.6), (0.25, 0.3), (0.4, 0.7), (0.55, 0.35)],
                                  [(0.65, 0.3), (0.7, 0.8)], [(0.75, 0.5), (0.9, 0.5)]])
        page.screenshot(path=str(shots / "remote-signature-390x844.png"), full_page=True)
        page.tap("#ps-sign-done")
        expect(page.locator("#ps-signature")).to_have_attribute("data-state", "sealed",
                                                                timeout=WAIT_MS)
        _info, pad_events = load_events(SAMPLE_SIGNATURE)
        app.hardware.pad.play(pad_events, wait=True)
        wait_for(lambda: not app.recorder.signing, timeout=WAIT, what="the pen lifted")
        press_next(app, records)
        expect(page.locator("#ps-status")).to_contain_text("所有环节已完成", timeout=WAIT_MS)
        app.hardware.panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
        records.wait(lambda w: w.of("SESSION_END"), WAIT)
        party.wait_call_state("通话已结束")
        assert party.errors == [], party.errors
        assert not [url for url in party.requests if not url.startswith(relay.url)]
    finally:
        if party is not None:
            party.close()

    assert verify_path(app.evidence.spool.session_dir(sid)).ok
    shown = [e for e in events(records, "screen_page", party="p1") if e["read"]]
    assert {e["page"] for e in shown} == {1, 2, 3}
    assert [r["accepted"] for r in events(records, "screen_read", party="p1")] == [True]
    signature = events(records, "remote_signature", party="p1")[0]
    assert signature["strokes"] == 3 and signature["points"] >= 3 * 2
    assert not events(records, "remote_screen_refused")
