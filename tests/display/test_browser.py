"""The customer's screen in real headless Chromium: what the DOM shows after the scripts ran."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from drivers.clock import SimClock
from drivers.sigpad.base import PadInfo, PenSample
from firmware.unit.display.captions import CaptionPhrase
from firmware.unit.display.view import Caption, DisplayView, NodeView, Person, Refusal

from .screen_flow import ReadingFlow, quick_library

PAD = PadInfo("sim pad", 0, 20000, 0, 8000, 1023, 100, 100)
PEOPLE = (Person.of("policyholder", "王小明"), Person.of("insured", "李晓红", remote=True),
          Person.of("salesperson", "张伟"))


def node_view(clock, **overrides) -> DisplayView:
    now = clock.monotonic_ns()
    fields = dict(state="recording", node=NodeView(3, 12, "犹豫期及退保损失提示"),
                  caption=Caption("犹豫期为十五日。"), needs=("answer",),
                  min_until_ns=now + 90_000_000_000, people=PEOPLE)
    fields.update(overrides)
    return DisplayView(**fields)


def open_screen(browser_page, screen, width=800, height=480, **kwargs):
    bp = browser_page(width, height, **kwargs)
    bp.page.goto(screen.server.url)
    expect(bp.page.locator("body")).to_have_attribute("data-ready", "yes")
    return bp


def swipe(page, selector: str, fraction: float) -> None:
    """A real touch swipe across ``selector`` (a fraction of its width; negative: leftwards),
    through Chromium's touch input (CDP), as a finger on the touch display makes it."""
    box = page.locator(selector).bounding_box()
    y = box["y"] + box["height"] / 2
    start = box["x"] + box["width"] * (0.5 - fraction / 2)
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart",
                                              "touchPoints": [{"x": start, "y": y}]})
        for step in range(1, 6):
            x = start + box["width"] * fraction * step / 5
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                                  "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def assert_clean(bp, screen):
    assert bp.foreign_requests(screen.origin) == []
    assert bp.errors == []


def test_idle_shows_the_hint_to_show_the_ticket(screen_server, browser_page):
    screen = screen_server()
    screen.server.publish(DisplayView(status="设备就绪"))
    bp = open_screen(browser_page, screen)
    page = bp.page
    expect(page.locator("#idle-hint")).to_have_text("请出示双录二维码")
    expect(page.locator("#idle-status")).to_have_text("设备就绪")
    expect(page.locator("#state-badge")).to_have_text("待机")
    expect(page.locator("#node")).to_be_hidden()
    assert_clean(bp, screen)


def test_a_node_shows_title_needs_countdown_and_masked_people(screen_server, browser_page):
    screen = screen_server()
    screen.server.publish(node_view(screen.server.clock))
    bp = open_screen(browser_page, screen)
    page = bp.page
    expect(page.locator("#node-title")).to_have_text("犹豫期及退保损失提示")
    expect(page.locator("#node-number")).to_have_text("第 3 / 12 步")
    expect(page.locator("#caption-current")).to_have_text("犹豫期为十五日。")
    expect(page.locator("#needs li[data-need=answer]")).to_have_text("请客户回答")
    expect(page.locator("#countdown")).to_contain_text("还需")
    expect(page.locator(".person .name")).to_have_text(["王*", "李*（远程）", "张*"])
    expect(page.locator(".person .role")).to_have_text(["投保人", "被保险人", "销售人员"])
    content = page.content()
    assert not any(name in content for name in ("王小明", "李晓红", "张伟"))
    assert_clean(bp, screen)


def test_captions_follow_the_voice(screen_server, browser_page):
    screen = screen_server()
    clock = screen.server.clock
    phrases = (CaptionPhrase("请您确认，", 0), CaptionPhrase("本产品不是存款，", 1000),
               CaptionPhrase("也不是理财产品。", 600_000))
    started = clock.monotonic_ns() - 2_000_000_000          # the voice is 2 s in
    screen.server.publish(node_view(clock, caption=Caption("请您确认，本产品不是存款，也不是理财产品。",
                                                           phrases, started)))
    bp = open_screen(browser_page, screen)
    expect(bp.page.locator("#caption-current")).to_have_text("本产品不是存款，")
    expect(bp.page.locator("#caption-previous")).to_have_text("请您确认，")
    # a new prompt starts now: its first phrase at once, the next one 300 ms later
    screen.server.publish(node_view(clock, caption=Caption("第一句。第二句。", (
        CaptionPhrase("第一句。", 0), CaptionPhrase("第二句。", 300)), clock.monotonic_ns())))
    expect(bp.page.locator("#caption-current")).to_have_text("第二句。")
    expect(bp.page.locator("#caption-previous")).to_have_text("第一句。")


def test_a_refusal_is_shown_in_words_and_cleared(screen_server, browser_page):
    screen = screen_server()
    clock = screen.server.clock
    screen.server.publish(node_view(clock, refusal=Refusal("min_duration", clock.monotonic_ns())))
    bp = open_screen(browser_page, screen)
    banner = bp.page.locator("#refusal")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("data-code", "min_duration")
    expect(banner).to_contain_text("本环节还未到最短时长：请等倒计时结束后再按“下一步”。")
    refusal = Refusal("answer_negative", clock.monotonic_ns())
    screen.server.publish(node_view(clock, refusal=refusal))
    expect(banner).to_contain_text("客户的回答是否定的")
    screen.server.publish(node_view(clock))
    expect(banner).to_be_hidden()


def test_elder_mode_uses_larger_type(screen_server, browser_page):
    screen = screen_server()
    clock = screen.server.clock
    screen.server.publish(node_view(clock))
    bp = open_screen(browser_page, screen, 720, 1280)
    size = "parseFloat(getComputedStyle(document.getElementById('caption-current')).fontSize)"
    normal = bp.page.evaluate(size)
    screen.server.publish(node_view(clock, elder=True))
    expect(bp.page.locator("body")).to_have_class("state-recording elder")
    assert bp.page.evaluate(size) >= normal * 1.3


def test_the_stream_survives_a_reload(screen_server, browser_page):
    screen = screen_server()
    clock = screen.server.clock
    screen.server.publish(node_view(clock, node=NodeView(5, 12, "保险责任说明")))
    bp = open_screen(browser_page, screen)
    page = bp.page
    assert screen.next_input("viewers").viewers == 1
    page.reload()
    # the current view is on screen at once, with no new publish
    expect(page.locator("#node-title")).to_have_text("保险责任说明")
    screen.server.publish(node_view(clock, node=NodeView(6, 12, "责任免除说明")))
    expect(page.locator("#node-title")).to_have_text("责任免除说明")
    # the old stream ended and a new one began, in either order
    counts = [screen.next_input("viewers").viewers for _ in range(2)]
    assert counts in ([0, 1], [2, 1]) and screen.server.viewers == 1
    assert_clean(bp, screen)


def test_the_signature_appears_live_and_after_a_reload(screen_server, browser_page):
    screen = screen_server()
    clock = screen.server.clock
    screen.server.publish(node_view(clock, node=NodeView(11, 12, "投保人签名"),
                                    needs=("signature",)))
    bp = open_screen(browser_page, screen)
    page = bp.page
    canvas = page.locator("#signature-canvas")
    screen.server.signature_begin(PAD)
    expect(page.locator("#signature")).to_be_visible()
    t = clock.monotonic_ns()
    for i in range(40):                                # a stroke across the pad
        screen.server.signature_sample(PenSample(2000 + 400 * i, 3000 + (i % 7) * 300, 600,
                                                 t + i, True))
    expect(canvas).to_have_attribute("data-points", "40")
    screen.server.signature_sample(PenSample(0, 0, 0, t + 41, False))
    screen.server.signature_stroke_end()
    for i in range(10):                                # a second stroke
        screen.server.signature_sample(PenSample(4000, 1000 + 500 * i, 800, t + 50 + i, True))
    expect(canvas).to_have_attribute("data-points", "50")
    inked = """() => { const c = document.getElementById('signature-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++; return n; }"""
    assert page.evaluate(inked) > 200
    page.reload()
    expect(canvas).to_have_attribute("data-points", "50")
    assert page.evaluate(inked) > 200


def test_a_reading_node_pages_by_touch_click_and_key_and_refuses_next_until_read(
        screen_server, browser_page, tmp_path):
    clock = SimClock(realtime=False)
    library = quick_library(tmp_path / "docs")
    screen = screen_server(clock=clock, library_=library)
    flow = ReadingFlow(screen, library, ("投保提示书", "保险条款"))
    flow.publish()
    bp = open_screen(browser_page, screen, touch=True)
    page = bp.page
    image = page.locator("#page-image")
    indicator = page.locator("#page-indicator")
    notice, terms = flow.documents

    assert flow.next("shown").page == 1
    expect(indicator).to_have_text("第 1 / 3 页")
    assert not flow.press_next()
    expect(page.locator("#refusal")).to_contain_text("还有页面没有阅读")
    expect(page.locator("#refusal-detail")).to_have_text(
        "《投保提示书》第 1–3 页未读；《保险条款》第 1–2 页未读")
    clock.advance(0.3)

    page.tap("#page-next")                                    # a tap on 下一页
    turn = flow.next("page")
    assert (turn.document, turn.page) == (notice.sha256, 2)
    expect(indicator).to_have_text("第 2 / 3 页")
    assert flow.next("shown").page == 2
    expect(image).to_have_attribute("data-shown", f"{notice.sha256}:2")
    clock.advance(0.3)

    swipe(page, "#page-frame", -0.6)                          # a finger swipes to the left
    assert flow.next("page").page == 3
    assert flow.next("shown").page == 3
    clock.advance(0.3)
    expect(page.locator("#read-done")).to_be_enabled()         # the page's own 0.3 s passed
    page.click("#read-done")
    assert flow.next("read").document == notice.sha256
    expect(page.locator(".doc-tab.confirmed")).to_have_text(["投保提示书 ✓"])

    page.click(".doc-tab >> text=保险条款")                     # the next document
    assert flow.next("page").document == terms.sha256
    assert flow.next("shown").page == 1
    clock.advance(0.3)
    page.focus("#page-frame")
    page.keyboard.press("ArrowRight")
    assert flow.next("page").page == 2
    assert flow.next("shown").page == 2
    assert not flow.press_next()
    expect(page.locator("#refusal-detail")).to_have_text("《保险条款》第 2 页未读")
    clock.advance(0.3)
    expect(page.locator("#read-done")).to_be_enabled()
    page.click("#read-done")
    flow.next("read")
    assert flow.press_next()
    expect(page.locator("#refusal")).to_be_hidden()
    assert [(p.sha256 == notice.sha256, p.page, p.read) for p in flow.pages] == [
        (True, 1, True), (True, 2, True), (True, 3, True), (False, 1, True)]
    assert_clean(bp, screen)


@pytest.mark.parametrize("width, height", [(720, 1280), (390, 844), (800, 480)])
def test_the_page_fits_the_touch_displays_and_phones(screen_server, browser_page, tmp_path,
                                                     width, height):
    library = quick_library(tmp_path / "docs")
    screen = screen_server(library_=library)
    flow = ReadingFlow(screen, library, ("责任免除条款",))
    flow.publish()
    bp = open_screen(browser_page, screen, width, height, touch=True)
    flow.next("shown")
    page = bp.page
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in ("#page-image", "#page-next", "#read-done", "#node-title"):
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, selector
        assert box["y"] + min(box["height"], 40) <= height, selector
    assert page.evaluate("document.getElementById('page-image').naturalWidth") >= width * 0.5
    assert_clean(bp, screen)


def test_the_chinese_font_is_the_units_own(screen_server, browser_page):
    screen = screen_server()
    screen.server.publish(DisplayView())
    bp = open_screen(browser_page, screen)
    status = bp.page.evaluate("""async () => { await document.fonts.load('20px DualrecCJK', '投保');
        return [...document.fonts].map(f => f.family + ':' + f.status); }""")
    assert '"DualrecCJK":loaded' in status or "DualrecCJK:loaded" in status
    assert_clean(bp, screen)
