"""The customer's screen of a running (simulated) appliance, in real headless Chromium: a whole
session as the customer sees it, the reading node refusing NEXT until every page was shown,
the stream surviving a reload, the chain holding what was shown, and the server answering on
its configured address only.

Screenshots go to a temporary directory; to refresh the ones in docs/screens, run
``DUALREC_SCREENS_DIR=docs/screens .venv/bin/python -m pytest tests/display/test_session_screen.py``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect
from session_helpers import session_events, wait_for

from drivers.sigpad import load_events
from firmware.evidence import canonical
from firmware.evidence.verify import verify_path
from firmware.unit.display.errors import ListenAddressError
from firmware.unit.display.session_view import COMPLETE_STATUS, ENDED_STATUS
from firmware.unit.hardware import SAMPLE_SIGNATURE

from .screen_appliance import people_json, screen_appliance  # noqa: F401  (fixture)
from .screen_flow import quick_library

NOTICE, TERMS = "责任免除条款", "保险条款"        # the template's document, the ticket's


@pytest.fixture
def shots(tmp_path) -> Path:
    out = Path(os.environ.get("DUALREC_SCREENS_DIR") or tmp_path / "screens")
    out.mkdir(parents=True, exist_ok=True)
    return out


def sha_of(app, title: str) -> str:
    return next(sha for sha, e in app.screen.library.entries.items() if e.title == title)


def bind(app, documents: tuple[str, ...] = (), template: str = "quick-reading") -> None:
    """Bind the next session to its people, and to documents the ticket adds."""
    binding = app.binder.for_people(people_json(), template=template)
    app.flow.bind(dataclasses.replace(binding, documents=documents))
    app.flow.wait_idle(30)


def open_screen(browser_page, app, width: int = 800, height: int = 480):
    bp = browser_page(width, height, touch=True)
    bp.page.goto(app.screen.url)
    expect(bp.page.locator("body")).to_have_attribute("data-ready", "yes")
    return bp


def start(app) -> str:
    app.hardware.panel.press("RECORD", 0.1)
    wait_for(lambda: app.flow.active is not None and bool(app.flow.active.nodes),
             what="session start")
    return app.flow.active.session_id


def next_accepted(app) -> None:
    wait_for(lambda: app.flow.refusal(app.clock.monotonic_ns()) is None, timeout=60,
             what="NEXT accepted")
    app.hardware.panel.press("NEXT", 0.05)


def prompt_played(app, sid: str, node: str) -> None:
    """Until the node's prompt has played to its end (on the chain: not merely "nothing is
    playing", which is also true in the moment before the node's prompt starts)."""
    wait_for(lambda: any(e["node"] == node and e["completed"]
                         for e in session_events(app, sid, "prompt")), what=f"{node}'s prompt")


def next_refused(app, sid: str) -> str:
    """Press NEXT; the reason it was refused (from the chain)."""
    before = len(session_events(app, sid, "next_refused"))
    app.hardware.panel.press("NEXT", 0.05)
    wait_for(lambda: len(session_events(app, sid, "next_refused")) > before, what="refusal")
    return session_events(app, sid, "next_refused")[-1]["reason"]


def stop(app) -> None:
    app.hardware.panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
    wait_for(lambda: app.flow.active is None, what="session end")


def read_document(page, sha: str, pages: int, *, reload_at: int | None = None) -> None:
    """Turn through every page from the browser (a tap on 下一页), each until the page itself
    says it is read, then press 我已阅读; reload the page once at ``reload_at``."""
    for number in range(1, pages + 1):
        expect(page.locator("#page-indicator")).to_have_text(f"第 {number} / {pages} 页")
        expect(page.locator("#page-image")).to_have_attribute("data-shown", f"{sha}:{number}")
        if number == reload_at:
            page.reload()                 # the stream and the page on screen survive it
            expect(page.locator("#page-indicator")).to_have_text(f"第 {number} / {pages} 页")
            expect(page.locator("#page-image")).to_have_attribute("data-shown",
                                                                  f"{sha}:{number}")
        expect(page.locator("#page-progress")).to_have_attribute("data-read", "yes")
        if number < pages:
            page.tap("#page-next")
    expect(page.locator("#read-done")).to_be_enabled()
    page.tap("#read-done")
    expect(page.locator(f".doc-tab.confirmed[data-sha256='{sha}']")).to_be_visible()


def test_a_session_on_the_customers_screen(screen_appliance, browser_page, shots):
    app = screen_appliance()
    notice, terms = sha_of(app, NOTICE), sha_of(app, TERMS)
    bind(app, documents=(terms,))
    bp = open_screen(browser_page, app)
    page = bp.page
    expect(page.locator("#idle-hint")).to_have_text("请出示双录二维码")
    expect(page.locator("#idle-status")).to_have_text("设备就绪")
    bp.page.screenshot(path=str(shots / "session-1-idle.png"))

    app.hardware.speaker.hold()               # the consent prompt plays until released
    sid = start(app)
    expect(page.locator("#node-title")).to_have_text("告知与同意")
    expect(page.locator("#node-number")).to_have_text("第 1 / 3 步")
    expect(page.locator("#caption-current")).to_have_text("请回答同意。")
    expect(page.locator("#needs li[data-need=answer]")).to_have_text("请客户回答")
    expect(page.locator(".person .role")).to_have_text(["投保人", "被保险人", "销售人员"])
    expect(page.locator(".person .name")).to_have_text(["王*", "李*", "张*"])
    assert not any(name in page.content() for name in ("王小明", "李晓红", "张伟"))
    assert next_refused(app, sid) == "prompt_playing"
    banner = page.locator("#refusal")
    expect(banner).to_have_attribute("data-code", "prompt_playing")
    expect(banner).to_contain_text("提示语还在播放：请听完本段提示后再按“下一步”。")
    page.screenshot(path=str(shots / "session-2-refused.png"))
    app.hardware.speaker.release()
    expect(banner).to_be_hidden()             # its cause is gone: the prompt has ended
    next_accepted(app)

    expect(page.locator("#node-title")).to_have_text("阅读投保资料")
    expect(page.locator("#reading")).to_be_visible()
    expect(page.locator("#needs li[data-need=pages]")).to_have_text("请阅读文件")
    expect(page.locator(".doc-tab")).to_have_text([NOTICE, TERMS])
    expect(page.locator("#page-image")).to_have_attribute("data-shown", f"{notice}:1")
    prompt_played(app, sid, "reading")
    assert next_refused(app, sid) == "pages_unread"
    expect(banner).to_have_attribute("data-code", "pages_unread")
    expect(page.locator("#refusal-detail")).to_have_text(   # page 1 may be read by now
        re.compile(rf"《{NOTICE}》第 [12]–3 页未读；《{TERMS}》第 1–2 页未读"))
    page.screenshot(path=str(shots / "session-3-reading.png"))
    read_document(page, notice, 3, reload_at=2)
    assert next_refused(app, sid) == "pages_unread"          # the second document is unread
    expect(page.locator("#refusal-detail")).to_have_text(f"《{TERMS}》第 1–2 页未读")
    page.tap(f".doc-tab[data-sha256='{terms}']")
    read_document(page, terms, 2)
    expect(page.locator("#needs li")).to_have_count(0)
    expect(banner).to_be_hidden()
    next_accepted(app)

    expect(page.locator("#node-title")).to_have_text("投保人签名")
    expect(page.locator("#needs li[data-need=signature]")).to_have_text("请客户签名")
    _info, events = load_events(SAMPLE_SIGNATURE)
    app.hardware.pad.play(events, wait=True)
    expect(page.locator("#signature")).to_be_visible()
    expect(page.locator("#signature-canvas")).not_to_have_attribute("data-points", "0")
    expect(page.locator("#needs li")).to_have_count(0)
    page.screenshot(path=str(shots / "session-4-signature.png"))
    next_accepted(app)
    expect(page.locator("#idle-status")).to_have_text(COMPLETE_STATUS)
    stop(app)
    expect(page.locator("#idle-status")).to_have_text(ENDED_STATUS)
    expect(page.locator("#idle-hint")).to_have_text("请出示双录二维码")
    assert bp.foreign_requests(app.screen.url.rstrip("/")) == [] and bp.errors == []

    # what the screen showed is on the chain, and the session verifies
    report = verify_path(app.evidence.spool.session_dir(sid))
    assert report.ok, report.to_text()
    screen = session_events(app, sid, "screen")
    assert {e["part"] for e in screen} >= {"state", "node", "caption", "needs", "refusal",
                                           "people", "page", "reading", "signature"}
    node = canonical.encode({"number": 2, "total": 3, "title": "阅读投保资料"})
    assert hashlib.sha256(node).hexdigest() in [e["sha256"] for e in screen
                                                if e["part"] == "node"]
    assert all(e["viewers"] >= 1 for e in screen if e["part"] == "page")
    documents = session_events(app, sid, "screen_documents")
    assert [d["title"] for d in documents[0]["documents"]] == [NOTICE, TERMS]
    shown = session_events(app, sid, "screen_page")
    assert {(p["document"], p["page"]) for p in shown if p["read"]} == {
        (notice, 1), (notice, 2), (notice, 3), (terms, 1), (terms, 2)}
    assert all(p["end_ns"] >= p["start_ns"] and p["node"] == "reading" for p in shown)
    reads = session_events(app, sid, "screen_read")
    assert [(r["document"], r["accepted"]) for r in reads] == [(notice, True), (terms, True)]
    assert [e["viewers"] for e in session_events(app, sid, "screen_viewers")][-1] == 1


def test_a_missing_or_altered_document_refuses_the_reading_node(screen_appliance,
                                                               browser_page, tmp_path):
    library = tmp_path / "library"
    quick_library(library)
    pdf = library / "zeren-mianchu.pdf"
    pdf.write_bytes(pdf.read_bytes() + b"\n% appended after signing\n")
    app = screen_appliance(library_dir=library)
    unknown = "ab" * 32
    bind(app, documents=(unknown,))
    bp = open_screen(browser_page, app)
    sid = start(app)
    next_accepted(app)
    expect(bp.page.locator("#node-title")).to_have_text("阅读投保资料")
    prompt_played(app, sid, "reading")
    assert next_refused(app, sid) == "document_missing"
    banner = bp.page.locator("#refusal")
    expect(banner).to_contain_text("本环节要展示的文件在设备上缺失或已被改动")
    expect(bp.page.locator("#refusal-detail")).to_have_text(
        f"《{NOTICE}》已被改动；文件 {unknown[:12]}… 不在设备的文件库中")
    expect(bp.page.locator("#reading")).to_be_hidden()
    assert app.flow.refusal(app.clock.monotonic_ns()) == "document_missing"
    stop(app)
    documents = session_events(app, sid, "screen_documents")[0]
    assert documents["documents"] == []
    assert [(m["sha256"], m["problem"]) for m in documents["missing"]] == [
        (sha_of(app, NOTICE), "altered"), (unknown, "missing")]
    assert verify_path(app.evidence.spool.session_dir(sid)).ok


def test_elder_mode_on_the_screen(screen_appliance, browser_page, shots):
    app = screen_appliance("quick-elder")
    bind(app, template="quick-elder")
    bp = open_screen(browser_page, app, 720, 1280)
    start(app)
    expect(bp.page.locator("html")).to_have_class("elder")
    expect(bp.page.locator("#caption-current")).to_have_text("请回答同意。")
    size = "parseFloat(getComputedStyle(document.getElementById('caption-current')).fontSize)"
    assert bp.page.evaluate(size) >= 40
    bp.page.screenshot(path=str(shots / "session-elder-720x1280.png"))
    stop(app)


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of TCP sockets listening on ``port`` (from /proc/net/tcp*)."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, port_hex = local.partition(":")
            if state == "0A" and int(port_hex, 16) == port:    # 0A: LISTEN
                found.add(address)
    return found


def test_the_screen_answers_only_on_its_configured_address(screen_appliance, browser_page):
    app = screen_appliance()
    port = urlsplit(app.screen.url).port
    assert urlsplit(app.screen.url).hostname == "127.0.0.1"
    assert _listening_addresses(port) == {"0100007F"}          # 127.0.0.1, nothing else
    bp = open_screen(browser_page, app)
    for other in ("127.0.0.2", "[::1]"):                      # the same port elsewhere
        with pytest.raises(PlaywrightError):
            bp.page.goto(f"http://{other}:{port}/")
    for family, host in ((socket.AF_INET, "127.0.0.2"), (socket.AF_INET6, "::1")):
        with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises(OSError):
            sock.settimeout(5)
            sock.connect((host, port))
    # a name that resolves to the unit (DNS rebinding) is not this server's address
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: screen.example:%d\r\nConnection: close\r\n\r\n"
                     % port)
        assert sock.recv(64).startswith(b"HTTP/1.1 421")
    # a listen address on the network is refused before anything starts
    with pytest.raises(ListenAddressError, match="not a loopback address"):
        screen_appliance(display={"listen": "0.0.0.0:8470"})
