"""The unit of the remote reading tests (not collected): the appliance as the daemon builds it,
with the customer's screen on, the meeting on its fleet agent's connection to the test's
broker, a script with a reading node and a signature node, and a copy of the sample document
library whose pages need only a moment each; and what the tests do at the counter."""
from __future__ import annotations

import json
import shutil
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from firmware.unit.display.documents import MANIFEST
from session_helpers import wait_for
from tests.meet.counter_unit import WAIT, bound_unit

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "reading_scripts"
DOCUMENTS = REPO / "config" / "documents"
NOTICE = "bf8574ab804b9e90c4a6b51dabf421d2f6111b586bf102dd4dc2c720727858f3"   # 责任免除条款
PAGES = 3
MIN_PAGE_SECONDS = 0.3
DEVICE = "dr-reading-unit"


def reading_library(root: Path) -> Path:
    """The sample documents, each page to be shown MIN_PAGE_SECONDS."""
    root.mkdir(parents=True)
    for path in DOCUMENTS.glob("*.pdf"):
        shutil.copy(path, root / path.name)
    text = (DOCUMENTS / MANIFEST).read_text(encoding="utf-8")
    (root / MANIFEST).write_text(text.replace("min_page_seconds = 5",
                                              f"min_page_seconds = {MIN_PAGE_SECONDS}"),
                                 encoding="utf-8")
    return root


@contextmanager
def reading_unit(tmp_path: Path, broker, pki, *, screen: bool) -> Iterator[tuple]:
    """The unit with the customer's screen at the counter, or (``screen`` False) without: then
    the remote parties' part loads the library of ``[display] documents`` itself."""
    display = {"enabled": screen, "listen": "127.0.0.1:0",
               "documents": str(reading_library(tmp_path / "documents"))}
    with bound_unit(tmp_path, broker, pki, device=DEVICE, template="remote-reading",
                    scripts=SCRIPTS, display=display) as (app, watch, _sales):
        yield app, watch


@pytest.fixture
def counter(tmp_path, broker, pki):
    """The unit with its customer's screen at the counter."""
    with reading_unit(tmp_path, broker, pki, screen=True) as made:
        yield made


@pytest.fixture
def counter_without_screen(tmp_path, broker, pki):
    """The unit without a customer's screen at the counter."""
    with reading_unit(tmp_path, broker, pki, screen=False) as made:
        yield made


def counter_reads(app, document: str, pages: int) -> None:
    """The customer at the counter reads ``document`` on the counter's screen (its page's
    input, as the page posts it), each page until the screen says it is read."""
    base = app.screen.url

    def post(path: str, body: dict) -> None:
        request = urllib.request.Request(
            base + path, json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Origin": base.rstrip("/")})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def read_pages() -> tuple[int, ...]:
        view = app.screen.server.view
        return view.reading.document(document).read_pages if view and view.reading else ()

    for page in range(1, pages + 1):
        if page > 1:
            post("api/page", {"document": document, "page": page})
        post("api/shown", {"document": document, "page": page})
        wait_for(lambda: page in read_pages(), timeout=WAIT, what=f"counter page {page} read")
    post("api/read", {"document": document})

