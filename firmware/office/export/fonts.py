"""Fonts for the text the export draws: one that has Chinese, if the machine has one.

OpenCV's ``putText`` has no CJK glyphs, so text is drawn with Pillow from a TrueType font.
A CJK font comes from fontconfig (``fc-list :lang=zh``) or a known path of the Debian packages
``fonts-wqy-zenhei``, ``fonts-wqy-microhei`` and ``fonts-noto-cjk``. Without one, text is drawn
in a Latin font and callers fall back to ASCII (a node's id instead of its Chinese title).
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

#: What to install when no CJK font is found (Debian / Raspberry Pi OS).
CJK_FONT_PACKAGE = "fonts-wqy-zenhei"

KNOWN_CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
KNOWN_LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "DejaVuSans.ttf",
)


@dataclass(frozen=True)
class FontChoice:
    """A font file (None: Pillow's built-in font) and whether it draws Chinese."""

    path: Path | None
    cjk: bool

    def load(self, size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        """The font at ``size_px`` pixels."""
        if self.path is not None:
            return ImageFont.truetype(str(self.path), size_px)
        return ImageFont.load_default(size_px)

    def text(self, preferred: str, ascii_fallback: str) -> str:
        """``preferred`` if this font can draw it, else ``ascii_fallback``."""
        return preferred if self.cjk or preferred.isascii() else ascii_fallback


def _fontconfig_cjk() -> Path | None:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        out = subprocess.run([fc_list, "-f", "%{file}\n", ":lang=zh"], capture_output=True,
                             text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted({line.strip() for line in out.splitlines() if line.strip()})
    # Prefer sans-serif families with a regular weight when several are installed.
    files.sort(key=lambda f: (("Sans" not in f and "hei" not in f.lower()),
                              ("Bold" in f or "Light" in f or "Thin" in f), f))
    return Path(files[0]) if files else None


def find_cjk_font() -> Path | None:
    """A font file with Chinese glyphs on this machine, or None."""
    found = _fontconfig_cjk()
    if found is not None and found.is_file():
        return found
    return next((Path(p) for p in KNOWN_CJK_FONTS if Path(p).is_file()), None)


def choose_font(path: Path | None = None, *, allow_cjk: bool = True) -> FontChoice:
    """``path`` if given (taken to draw Chinese), else a CJK font of this machine, else a Latin
    one (``cjk=False``). ``allow_cjk=False`` picks the Latin fallback (tests use it)."""
    if path is not None:
        return FontChoice(Path(path), True)
    if allow_cjk:
        cjk = find_cjk_font()
        if cjk is not None:
            return FontChoice(cjk, True)
    for candidate in KNOWN_LATIN_FONTS:
        try:
            ImageFont.truetype(candidate, 12)  # a bare name is looked up in the font dirs
        except OSError:
            continue
        return FontChoice(Path(candidate), False)
    return FontChoice(None, False)
