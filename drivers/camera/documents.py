"""Documents the simulated camera can be shown: a resident identity card and the first page of
a 投保单 (insurance application form), drawn with a Chinese font.

Both are made up for tests and the demo: the card carries fictional data in a layout of our own
(no real card's design, pattern or emblem, and "演示样卡" printed on it), the form an invented
insurer. OpenCV cannot draw Chinese, so the text is set with Pillow's FreeType renderer in
WenQuanYi Zen Hei (Debian's ``fonts-wqy-zenhei``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from drivers.errors import BadDriverArgument, DeviceMissingError

FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

CARD_SIZE = (1012, 638)      # 85.6 x 54 mm at 300 dpi
PAGE_SIZE = (1240, 1754)     # A4 at 150 dpi

_INK = (20, 20, 20)
_LABEL = (48, 86, 140)       # RGB
_RULE = (90, 90, 90)


@dataclass(frozen=True)
class IdCard:
    """What the front of a resident identity card shows (fictional in tests and the demo)."""

    name: str
    sex: str
    ethnicity: str
    birth: dt.date
    address: str
    number: str


@dataclass(frozen=True)
class ApplicationForm:
    """The first page of a 投保单: its number and the people and product it is for."""

    application_no: str
    policyholder: str = "李明华"
    insured: str = "李明华"
    product: str = "演示终身寿险（分红型）"
    insurer: str = "演示人寿保险股份有限公司"
    premium: str = "人民币 10,000.00 元/年"
    term: str = "终身"
    payment: str = "年交，交费 10 年"


def sample_id_card() -> IdCard:
    """A fictional card whose number passes the GB 11643 check."""
    return IdCard(name="李明华", sex="男", ethnicity="汉", birth=dt.date(1985, 3, 7),
                  address="上海市浦东新区演示路 88 号 6 幢 1203 室",
                  number="310115198503071230")


def sample_application_form() -> ApplicationForm:
    return ApplicationForm(application_no="TB2025061800123")


class Typesetter:
    """Fonts of one file at the sizes asked for (loaded once per size)."""

    def __init__(self, font_path: Path = FONT_PATH) -> None:
        if not Path(font_path).is_file():
            raise DeviceMissingError(f"font {font_path} is missing: install the Debian package "
                                     "fonts-wqy-zenhei (apt-get install fonts-wqy-zenhei)")
        self.font_path = Path(font_path)
        self._fonts: dict[int, ImageFont.FreeTypeFont] = {}

    def font(self, size: int) -> ImageFont.FreeTypeFont:
        if size not in self._fonts:
            self._fonts[size] = ImageFont.truetype(str(self.font_path), size, index=0)
        return self._fonts[size]

    def width(self, text: str, size: int) -> float:
        return self.font(size).getlength(text)


def _to_bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def _wrap(text: str, fits: Callable[[str], bool]) -> list[str]:
    """``text`` cut into lines, each as long as ``fits`` allows (CJK text breaks anywhere)."""
    lines, line = [], ""
    for ch in text:
        if line and not fits(line + ch):
            lines.append(line.rstrip())
            line = ch.lstrip()
        else:
            line += ch
    if line:
        lines.append(line)
    return lines


def _background(size: tuple[int, int]) -> Image.Image:
    """A pale two-colour gradient with fine wavy lines: our own pattern, not a real card's."""
    w, h = size
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    left = np.array([232, 240, 246], np.float32)
    right = np.array([246, 242, 230], np.float32)
    rgb = left * (1 - x) + right * x - 6 * y
    yy, xx = np.mgrid[0:h, 0:w]
    waves = (np.sin(xx / 23.0 + 4 * np.sin(yy / 57.0)) > 0.985)[:, :, None]
    rgb = np.where(waves, rgb - 14, rgb)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def render_id_card(card: IdCard, typesetter: Typesetter | None = None) -> np.ndarray:
    """The front of ``card`` as a BGR image of :data:`CARD_SIZE` pixels."""
    if not isinstance(card, IdCard):
        raise BadDriverArgument(f"card must be an IdCard, got {type(card).__name__}")
    ts = typesetter or Typesetter()
    image = _background(CARD_SIZE)
    draw = ImageDraw.Draw(image)
    w, h = CARD_SIZE
    draw.rounded_rectangle((4, 4, w - 5, h - 5), radius=36, outline=(170, 180, 190), width=3)
    draw.text((w - 250, 22), "演示样卡", font=ts.font(26), fill=(160, 120, 120))
    label, value = 32, 40
    x_label, x_value = 60, 170
    draw.text((x_label, 70), "姓名", font=ts.font(label), fill=_LABEL)
    draw.text((x_value, 64), card.name, font=ts.font(value + 4), fill=_INK)
    draw.text((x_label, 150), "性别", font=ts.font(label), fill=_LABEL)
    draw.text((x_value, 146), card.sex, font=ts.font(value), fill=_INK)
    draw.text((300, 150), "民族", font=ts.font(label), fill=_LABEL)
    draw.text((410, 146), card.ethnicity, font=ts.font(value), fill=_INK)
    draw.text((x_label, 230), "出生", font=ts.font(label), fill=_LABEL)
    birth = f"{card.birth.year} 年 {card.birth.month} 月 {card.birth.day} 日"
    draw.text((x_value, 226), birth, font=ts.font(value), fill=_INK)
    draw.text((x_label, 310), "住址", font=ts.font(label), fill=_LABEL)
    lines = _wrap(card.address, lambda s: ts.width(s, value - 4) <= 470)[:3]
    for i, line in enumerate(lines):
        draw.text((x_value, 306 + i * 52), line, font=ts.font(value - 4), fill=_INK)
    draw.text((x_label, 530), "公民身份号码", font=ts.font(label), fill=_LABEL)
    draw.text((300, 522), card.number, font=ts.font(value + 4), fill=_INK)
    _photo_placeholder(draw, (690, 90, 950, 420))
    return _to_bgr(image)


def _photo_placeholder(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    """A plain grey silhouette where the holder's photo would be (no face: the face count
    must not rise because a card is shown)."""
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=(214, 220, 226))
    cx, w = (x0 + x1) // 2, x1 - x0
    draw.ellipse((cx - w * 0.2, y0 + 40, cx + w * 0.2, y0 + 40 + w * 0.5), fill=(178, 186, 194))
    draw.chord((x0 + 20, y1 - 120, x1 - 20, y1 + 110), 180, 360, fill=(178, 186, 194))


def render_application_form(form: ApplicationForm,
                            typesetter: Typesetter | None = None) -> np.ndarray:
    """The first page of ``form`` as a BGR image of :data:`PAGE_SIZE` pixels (white paper)."""
    if not isinstance(form, ApplicationForm):
        raise BadDriverArgument(f"form must be an ApplicationForm, got {type(form).__name__}")
    ts = typesetter or Typesetter()
    w, h = PAGE_SIZE
    image = Image.new("RGB", PAGE_SIZE, (252, 252, 248))
    draw = ImageDraw.Draw(image)
    title = "人身保险投保单"
    draw.text(((w - ts.width(title, 64)) / 2, 70), title, font=ts.font(64), fill=_INK)
    draw.text((90, 190), form.insurer, font=ts.font(34), fill=_INK)
    draw.text((90, 250), f"投保单号：{form.application_no}", font=ts.font(40), fill=_INK)
    draw.line((80, 320, w - 80, 320), fill=_RULE, width=3)
    rows = [("投保人", form.policyholder), ("被保险人", form.insured),
            ("险种名称", form.product), ("保险期间", form.term),
            ("交费方式", form.payment), ("保险费", form.premium)]
    y = 350
    for label_text, value_text in rows:
        draw.text((100, y), label_text, font=ts.font(34), fill=_LABEL)
        draw.text((340, y), value_text, font=ts.font(34), fill=_INK)
        draw.line((80, y + 62, w - 80, y + 62), fill=(200, 200, 200), width=2)
        y += 80
    notes = ("投保须知：请投保人仔细阅读保险条款，特别是责任免除条款。本产品为保险产品，"
             "不是存款，分红水平具有不确定性。犹豫期为收到保险合同后 15 日。")
    for i, line in enumerate(_wrap(notes, lambda s: ts.width(s, 30) <= w - 200)):
        draw.text((100, y + 30 + i * 46), line, font=ts.font(30), fill=(60, 60, 60))
    draw.text((100, h - 200), "投保人签名：", font=ts.font(34), fill=_INK)
    draw.line((310, h - 160, 700, h - 160), fill=_RULE, width=2)
    footer = "第 1 页 共 4 页"
    draw.text(((w - ts.width(footer, 28)) / 2, h - 90), footer, font=ts.font(28), fill=_RULE)
    return _to_bgr(image)
