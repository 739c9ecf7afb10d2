"""Screenshots of typical screens, on the Raspberry Pi displays and a phone.

They go to a temporary directory; to refresh the ones in docs/screens, run
``DUALREC_SCREENS_DIR=docs/screens .venv/bin/python -m pytest tests/display/test_screens.py``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from drivers.sigpad.base import PadInfo, PenSample
from firmware.unit.display.captions import CaptionPhrase
from firmware.unit.display.view import Caption, DisplayView, NodeView, Person, Refusal

from .screen_flow import ReadingFlow, quick_library

PEOPLE = (Person.of("policyholder", "王小明"), Person.of("insured", "李晓红"),
          Person.of("salesperson", "张伟"))
PROMPT = "请您确认，本产品为人身保险产品，不是存款，也不是银行理财产品。请回答“清楚”或“不清楚”。"


@pytest.fixture
def shots(tmp_path) -> Path:
    out = Path(os.environ.get("DUALREC_SCREENS_DIR") or tmp_path / "screens")
    out.mkdir(parents=True, exist_ok=True)
    return out


def take(bp, out: Path, name: str, size: tuple[int, int]) -> None:
    path = out / f"{name}.png"
    bp.page.screenshot(path=str(path))
    with Image.open(path) as image:
        assert image.size == size


def open_at(browser_page, screen, width, height):
    bp = browser_page(width, height, touch=True)
    bp.page.goto(screen.server.url)
    expect(bp.page.locator("body")).to_have_attribute("data-ready", "yes")
    return bp


def test_screens(screen_server, browser_page, tmp_path, shots):
    library = quick_library(tmp_path / "docs", min_page_seconds=5)
    screen = screen_server(library_=library)
    server, clock = screen.server, screen.server.clock

    server.publish(DisplayView(status="设备就绪 · 网点 0451-01"))
    bp = open_at(browser_page, screen, 800, 480)
    take(bp, shots, "idle-800x480", (800, 480))

    now = clock.monotonic_ns()
    caption = Caption(PROMPT, (CaptionPhrase("请您确认，", 0),
                               CaptionPhrase("本产品为人身保险产品，", 900),
                               CaptionPhrase("不是存款，也不是银行理财产品。", 2600),
                               CaptionPhrase("请回答“清楚”或“不清楚”。", 600_000)),
                      now - 3_000_000_000)
    answer = DisplayView(state="recording", node=NodeView(3, 12, "产品性质提示"), caption=caption,
                         needs=("answer",), min_until_ns=now + 12_400_000_000, people=PEOPLE,
                         refusal=Refusal("missing_answer", now))
    server.publish(answer)
    expect(bp.page.locator("#caption-current")).to_have_text("不是存款，也不是银行理财产品。")
    take(bp, shots, "node-refused-800x480", (800, 480))

    elder = open_at(browser_page, screen, 720, 1280)
    server.publish(DisplayView(**{**answer.__dict__, "elder": True, "refusal": None}))
    expect(elder.page.locator("html")).to_have_class("elder")
    expect(elder.page.locator("#caption-current")).not_to_be_empty()
    take(elder, shots, "elder-720x1280", (720, 1280))
    elder.context.close()

    flow = ReadingFlow(screen, library, ("投保提示书", "保险条款", "责任免除条款"))
    flow.publish()
    screen.next_input("shown")
    expect(bp.page.locator("#page-progress")).to_contain_text("请阅读本页")
    take(bp, shots, "reading-800x480", (800, 480))
    for width, height, name in ((720, 1280, "reading-720x1280"), (390, 844, "phone-390x844")):
        other = open_at(browser_page, screen, width, height)
        screen.next_input("shown")
        take(other, shots, name, (width, height))
        other.context.close()

    server.publish(DisplayView(state="recording", node=NodeView(11, 12, "投保人签名确认"),
                               caption=Caption("请投保人在签字板上签名。"), needs=("signature",),
                               people=PEOPLE))
    server.signature_begin(PadInfo("pad", 0, 21600, 0, 13500, 8191, 100, 100))
    t = clock.monotonic_ns()
    for stroke in _signature_strokes():
        for i, (x, y) in enumerate(stroke):
            server.signature_sample(PenSample(x, y, 5000, t + i, True))
        server.signature_sample(PenSample(0, 0, 0, t, False))
        server.signature_stroke_end()
    total = sum(len(s) for s in _signature_strokes())
    expect(bp.page.locator("#signature-canvas")).to_have_attribute("data-points", str(total))
    take(bp, shots, "signature-800x480", (800, 480))
    assert bp.foreign_requests(screen.origin) == [] and bp.errors == []


def _signature_strokes() -> list[list[tuple[int, int]]]:
    """王 and a flourish, in pad units (21600 x 13500)."""
    def line(x0, y0, x1, y1, n=24):
        return [(x0 + (x1 - x0) * i // n, y0 + (y1 - y0) * i // n) for i in range(n + 1)]
    return [line(4000, 3500, 11000, 3400), line(4600, 6500, 10400, 6400),
            line(7500, 3500, 7500, 10000), line(3500, 10100, 11800, 9900),
            [(12500 + 250 * i, 9000 - int(2500 * ((i / 30) ** 0.5)) + (i % 5) * 90)
             for i in range(31)]]
