"""The remote party of ``dualrec demo --remote`` as a real browser: Debian's Chromium, headless,
driven by Playwright (async API, on an event loop thread of its own), opening the SMS's link,
typing the code, ticking the seats, typing the name and the ID number's last 4, as a person on a
phone would; the page's own scripts (join.js, call.js) then hold the call.

Chromium's fake devices stand in for the phone's: the camera plays a Y4M picture
(``--use-file-for-fake-video-capture``) and the microphone a WAV (``--use-file-for-fake-audio-
capture``), both looped; ``--use-fake-ui-for-media-stream`` and the context's permissions allow
them without a prompt.

When the unit asks for the party's signature, the page's own signing box
(party_screen.js: ``#ps-signature``) shows; the party draws a signature in it with the pointer
(:func:`~firmware.cli.demo_remote_media.finger_signature`'s strokes, scaled to the box) and taps
确认签名, as a finger on a phone would.

Playwright is imported only here, and this module only when Chromium is the party.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from firmware.cli.demo_remote_media import SIGNATURE_CANVAS, finger_signature
from firmware.cli.demo_remote_party import RemotePartyError
from firmware.unit.remote.loop_thread import EventLoopThread

log = logging.getLogger(__name__)

WAIT_S = 30.0
PHONE = {"width": 390, "height": 844}
SIGN_BOX = "#ps-signature"          # the page's signing box (party_screen.js)
FLAGS = ["--headless=new", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--no-default-browser-check", "--disable-domain-reliability",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]



def chromium_path() -> Path:
    """``$DUALREC_CHROMIUM``, else Debian's ``chromium`` (it may not exist)."""
    return Path(os.environ.get("DUALREC_CHROMIUM") or shutil.which("chromium")
                or "/usr/bin/chromium")


def chromium_missing() -> str:
    """Why Chromium cannot be the party here ("" when it can)."""
    if not chromium_path().is_file():
        return f"no Chromium at {chromium_path()} (./dev installs Debian's chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright==1.65.2)"
    return ""


class ChromiumParty:
    """One remote party: a phone-sized page of a headless Chromium, started ahead
    (:meth:`start`), that opens the link given to :meth:`at`. :meth:`close` (safe twice) ends
    the page, the browser and Playwright's driver. ``tmp_dir``: Chromium's TMPDIR (its
    singleton socket: a short path), removed by the owner; what a killed Chromium leaves there
    goes with it."""

    kind = "chromium"

    def __init__(self, *, camera_y4m: Path, microphone_wav: Path, tmp_dir: Path) -> None:
        self.link = ""
        self._tmp_dir = tmp_dir           # Chromium's own temporary files (its TMPDIR)
        self.errors: list[str] = []       # the page's console errors
        self.failures: list[str] = []     # the party's own work that failed (signing)

        self._flags = FLAGS + [f"--use-file-for-fake-video-capture={camera_y4m}",
                               f"--use-file-for-fake-audio-capture={microphone_wav}"]
        self._loop = EventLoopThread("demo-chromium", self._failed)
        self._pw: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._page: Any = None
        self._started = self._closed = False
        self._signing: Any = None
        self.signed: list[str] = []       # the steps the party signed on the page

    def _failed(self, exc: BaseException) -> None:
        log.error("the demo's Chromium party: %r", exc)
        self.failures.append(repr(exc)[:300])

    def failed(self) -> str:
        """What went wrong in the party's own work (signing), or ""."""
        return self.failures[0] if self.failures else ""

    def start(self) -> "ChromiumParty":
        """Start the browser (the phone is on, nothing open yet): RemotePartyError, with
        Chromium's own words, when it cannot start here."""
        self._loop.start()
        self._started = True
        try:
            self._loop.run(self._start(), 3 * WAIT_S)
        except Exception as exc:
            raise RemotePartyError(f"Chromium would not start: {str(exc)[:600]}") from exc
        return self

    async def _start(self) -> None:
        from playwright.async_api import async_playwright
        self._pw = await async_playwright().start()
        self._tmp_dir.mkdir(mode=0o700, exist_ok=True)
        self._browser = await self._pw.chromium.launch(
            executable_path=str(chromium_path()), headless=True, chromium_sandbox=False,
            args=self._flags, env={**os.environ, "TMPDIR": str(self._tmp_dir)})
        self._context = await self._browser.new_context(
            viewport=PHONE, has_touch=True, locale="zh-CN", service_workers="block",
            permissions=["camera", "microphone"])

    def at(self, link: str) -> "ChromiumParty":
        """The party will open ``link`` (the SMS's)."""
        self.link = link
        return self

    def join(self, code: str, seats: list[int], name: str, id_last4: str) -> dict[str, Any]:
        """Open the link and join as a person would; the roles the page says were taken."""
        if not self._started:
            self.start()
        return self._loop.run(self._join(code, seats, name, id_last4), 3 * WAIT_S)

    async def _join(self, code: str, seats: list[int], name: str,
                    id_last4: str) -> dict[str, Any]:
        page = self._page = await self._context.new_page()
        page.on("console", lambda msg: self.errors.append(msg.text)
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        ms = int(WAIT_S * 1000)
        await page.goto(self.link, timeout=ms)
        await page.wait_for_selector("#code", state="visible", timeout=ms)
        await page.fill("#code", code)
        await page.click("#code-form button[type=submit]")
        await self._step(page, "identify", "the code")
        for seat in seats:
            await page.check(f"input[name=seat][value='{seat}']", timeout=ms)
        await page.fill("#name", name)
        await page.fill("#id-last4", id_last4)
        await page.click("#identify-form button[type=submit]")
        await self._step(page, "joined", "who the party is")
        self._signing = self._loop.spawn(self._sign_when_asked(page), "sign")
        return {"roles": await page.inner_text("#roles")}

    async def _sign_when_asked(self, page: Any) -> None:
        """Each time the page's signing box asks (``data-state=wanted``): draw the strokes
        in it, tap 确认签名, and wait until the unit says the signature is sealed."""
        while True:
            await page.wait_for_selector(f"{SIGN_BOX}[data-state=wanted]", state="visible",
                                         timeout=0)
            step = await page.inner_text("#ps-node-title")
            canvas = page.locator("#ps-signature-canvas")
            await canvas.scroll_into_view_if_needed()       # below the call on a phone
            box = await canvas.bounding_box()
            log.info("the party signs at %r in the box %s", step, box)
            width, height = SIGNATURE_CANVAS
            for stroke in finger_signature(width, height):
                points = list(zip(stroke["x"], stroke["y"]))
                await page.mouse.move(box["x"] + points[0][0] / width * box["width"],
                                      box["y"] + points[0][1] / height * box["height"])
                await page.mouse.down()
                for x, y in points[1::4]:
                    await page.mouse.move(box["x"] + x / width * box["width"],
                                          box["y"] + y / height * box["height"], steps=2)
                await page.mouse.up()
            await page.tap("#ps-sign-done")
            await page.wait_for_selector(f"{SIGN_BOX}[data-state=sealed]",
                                         timeout=int(WAIT_S * 1000))
            self.signed.append(step)

    async def _step(self, page: Any, step: str, what: str) -> None:
        """Wait until the page shows ``step``, or says it refused (RemotePartyError)."""
        await page.wait_for_function(
            "step => document.body.dataset.step === step || "
            "document.getElementById('status').dataset.kind === 'error'",
            arg=step, timeout=int(WAIT_S * 1000), polling=100)
        if await page.evaluate("() => document.body.dataset.step") != step:
            raise RemotePartyError(f"the join page refused {what}: "
                                   f"{await page.inner_text('#status')}")

    def describe(self) -> str:
        """What the page says about the call now (for a failure's message)."""
        if not self._started or self._page is None:
            return "the page is not open"
        try:
            state = self._loop.run(self._page.inner_text("#call-state"), WAIT_S)
        except Exception as exc:       # the page or the browser is gone: say so
            state = f"unreadable ({exc!r})"
        return f"call state {state!r}; console errors {self.errors[:5]}"

    def say(self, pcm: Any) -> None:
        """Nothing to do: the fake microphone plays the answers, looped."""

    def show(self, bgr: Any) -> None:
        """Nothing to do: the fake camera plays its one file."""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._started:
                self._loop.run(self._close(), WAIT_S)
        finally:
            self._loop.close()

    async def _close(self) -> None:
        """Close the context and the browser, then stop the driver. One already gone (a
        Ctrl-C at the terminal reaches the driver too, which then ends the browser) is what
        closing wants: logged, not raised."""
        from playwright.async_api import Error as PlaywrightError
        if self._signing is not None:
            self._signing.cancel()
        try:
            for part in (self._context, self._browser):
                if part is not None:
                    try:
                        await part.close()
                    except PlaywrightError as exc:
                        log.info("Chromium was closed already: %s", str(exc)[:200])
        finally:
            if self._pw is not None:
                await self._pw.stop()
