"""Headless Chromium for tests: Debian's ``chromium`` driven by Playwright for Python.

Use it from a ``conftest.py`` by importing the fixtures (pytest registers imported fixtures)::

    from headless_chromium import chromium, browser_page  # noqa: F401

- ``chromium`` (module scope): one browser for a test module (Playwright starts no browser
  of its own and downloads none: ``executable_path`` is Debian's ``/usr/bin/chromium``, or
  ``$DUALREC_CHROMIUM``), launched with a fresh user-data-dir and without network services.
  Not session scope: while Playwright's sync API is started it marks its event loop as
  *running* in the main thread between calls (``playwright/_impl/_greenlets.py``,
  ``wait_for_future`` calls ``asyncio._set_running_loop``), so every later test in the run
  that calls ``asyncio.run()`` on the main thread would fail with "cannot be called from a
  running event loop". Stopping Playwright at the end of the module clears the mark.
- ``browser_page`` (function scope): a factory ``browser_page(width, height)`` that opens a new
  context (no cookies, cache or storage shared with other tests) and returns a
  :class:`BrowserPage`, which records every request the page makes and every console error.

Chromium is installed by the project's set-up (``./dev setup``: the apt package ``chromium``);
a missing browser fails the test with that instruction rather than skipping it.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM_FLAGS = ["--headless=new", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-default-apps", "--disable-extensions", "--mute-audio",
                  "--no-default-browser-check", "--disable-domain-reliability",
                  "--metrics-recording-only"]


def chromium_executable() -> str:
    path = os.environ.get("DUALREC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(f"Chromium is not installed ({path} is missing): run ./dev setup, which "
                    "installs Debian's chromium package, or set DUALREC_CHROMIUM", pytrace=False)
    return path


@dataclass
class BrowserPage:
    """A page in its own context, with the requests it made and its console errors."""

    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self, origin: str) -> list[str]:
        """Requests that did not go to ``origin`` (scheme://host:port)."""
        want = urlsplit(origin)
        return [url for url in self.requests
                if (urlsplit(url).scheme, urlsplit(url).netloc) != (want.scheme, want.netloc)]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    executable = chromium_executable()
    playwright = sync_playwright().start()
    try:
        # Playwright gives the browser a fresh temporary user-data-dir of its own (it refuses
        # --user-data-dir in args) and removes it at close; no sandbox (root, containers).
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             chromium_sandbox=False, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[Callable[..., BrowserPage]]:
    opened: list[BrowserContext] = []

    def open_page(width: int = 800, height: int = 480, *, scale: float = 1,
                  touch: bool = False) -> BrowserPage:
        context = chromium.new_context(viewport={"width": width, "height": height},
                                       device_scale_factor=scale, has_touch=touch,
                                       locale="zh-CN", service_workers="block")
        opened.append(context)
        page = context.new_page()
        result = BrowserPage(context, page)
        page.on("request", lambda request: result.requests.append(request.url))
        page.on("console", lambda msg: result.errors.append(msg.text)
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: result.errors.append(str(exc)))
        return result

    yield open_page
    for context in opened:
        context.close()
