"""A remote party's phone as a real browser (not collected: no ``test_`` prefix): Debian's
Chromium, headless, driven by Playwright, opening the relay's join page and typing into it as a
person would; the page's own scripts (join.js, call.js) hold the call.

Chromium's fake devices stand in for the phone's: the camera is Chromium's own moving test
pattern (``--use-fake-device-for-media-stream``) and the microphone reads a WAV file, looped
(``--use-file-for-fake-audio-capture=<path>``; ``<path>%noloop`` would play it once). The
permission to use them is the browser context's (``permissions``), so one browser serves a
party who allows the camera and one who refuses it. A page granted the camera gathers its real
host addresses (192.0.2.2 here); without the grant Chromium would hide them behind mDNS names
(``<uuid>.local``), which aioice cannot resolve in this sandbox (the unit still connects then,
through the peer-reflexive candidates the browser's checks reveal; docs/meet.md).

Playwright's sync API marks its event loop running on the main thread while it is started
(tests/support/headless_chromium.py), so :func:`call_chromium` is meant for a module-scoped
fixture, and nothing else in that module may call ``asyncio.run`` on the main thread.

Every wait is Playwright's own (``wait_for_function``, ``wait_for_selector``), bounded.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from headless_chromium import CHROMIUM_FLAGS, chromium_executable
from playwright.sync_api import Browser, Page, sync_playwright

WAIT_MS = 30_000
PHONE = {"width": 390, "height": 844}


@contextmanager
def call_chromium(microphone_wav: Path, camera_y4m: Path | None = None) -> Iterator[Browser]:
    """Chromium with a fake camera and a microphone playing ``microphone_wav`` (48 kHz mono
    16-bit PCM, looped), on a Playwright of its own; closed at the end. The camera shows
    Chromium's moving test pattern, or the pictures of ``camera_y4m`` (an uncompressed Y4M,
    looped: ``--use-file-for-fake-video-capture``)."""
    flags = CHROMIUM_FLAGS + ["--use-fake-device-for-media-stream",
                              f"--use-file-for-fake-audio-capture={microphone_wav}"]
    if camera_y4m is not None:
        flags.append(f"--use-file-for-fake-video-capture={camera_y4m}")
    executable = chromium_executable()
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             chromium_sandbox=False, args=flags)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


class PartyPage:
    """The join page at ``url`` in a fresh browser context the size of a phone, allowed the
    camera and microphone or not (``camera``). Records the page's console errors and the
    requests it made; :meth:`close` ends the context."""

    def __init__(self, browser: Browser, url: str, *, camera: bool = True) -> None:
        self.url = url
        self.context = browser.new_context(
            viewport=PHONE, has_touch=True, locale="zh-CN", service_workers="block",
            permissions=["camera", "microphone"] if camera else [])
        # counts the customer's-screen channels call.js hands out (its dualrec-screen event)
        self.context.add_init_script("document.addEventListener('dualrec-screen', "
                                     "() => { window.screenChannels = "
                                     "(window.screenChannels || 0) + 1; });")
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda msg: self.errors.append(
            f"{msg.text} ({msg.location.get('url')})") if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.loaded_at = time.monotonic()
        self.page.goto(url)

    # -- what a person does ----------------------------------------------------------------------
    def join(self, code: str, seats: list[int], name: str, id_last4: str) -> None:
        """Types the code, ticks ``seats``, types the name and the ID number's last 4, and
        submits, as on a phone."""
        page = self.page
        page.wait_for_selector("#code", state="visible", timeout=WAIT_MS)
        page.fill("#code", code)
        page.click("#code-form button[type=submit]")
        page.wait_for_selector("input[name=seat]", state="visible", timeout=WAIT_MS)
        for seat in seats:
            page.check(f"input[name=seat][value='{seat}']")
        page.fill("#name", name)
        page.fill("#id-last4", id_last4)
        page.click("#identify-form button[type=submit]")

    def reload(self) -> None:
        self.loaded_at = time.monotonic()
        self.page.reload()

    # -- what the page shows ---------------------------------------------------------------------
    def call_state(self) -> str:
        return self.page.inner_text("#call-state")

    def wait_call_state(self, text: str, timeout_ms: int = WAIT_MS) -> float:
        """Waits until the call's state reads ``text``; the seconds since the page loaded."""
        self.page.wait_for_function(
            "text => document.getElementById('call-state').textContent === text",
            arg=text, timeout=timeout_ms, polling=100)
        return time.monotonic() - self.loaded_at

    def wait_counter_playing(self, advance_s: float = 1.0) -> dict:
        """Waits until the counter's video has a picture and its time has moved on by
        ``advance_s``; its size, time and whether it plays muted."""
        view = "document.getElementById('counter-view')"
        self.page.wait_for_function(f"() => {view}.videoWidth > 0 && !{view}.paused",
                                    timeout=WAIT_MS, polling=100)
        start = self.page.evaluate(f"() => {view}.currentTime")
        self.page.wait_for_function(f"t => {view}.currentTime >= t", arg=start + advance_s,
                                    timeout=WAIT_MS, polling=100)
        return self.page.evaluate(
            f"() => ({{width: {view}.videoWidth, height: {view}.videoHeight, "
            f"time: {view}.currentTime, muted: {view}.muted, "
            f"tracks: {view}.srcObject.getTracks().map(t => t.kind).sort()}})")

    def screen_channels(self) -> tuple[int, str | None]:
        """How many ``dualrec-screen`` events this page load saw, and the current channel's
        state."""
        return self.page.evaluate("() => [window.screenChannels || 0, window.dualrecCall.screen"
                                  " && window.dualrecCall.screen.readyState]")

    def close(self) -> None:
        self.context.close()


def sign_with_a_finger(page, strokes: list[list[tuple[float, float]]]) -> None:
    """Strokes drawn on the signature box (fractions of its size), as a finger would."""
    box = page.locator("#ps-signature-canvas").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=6)
        page.mouse.up()
