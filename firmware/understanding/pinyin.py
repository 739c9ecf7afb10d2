"""Text as toneless pinyin syllables: the form in which what was heard is compared with words.

Whisper writes Mandarin as it likes: traditional or simplified characters, digits or Chinese
numerals, any homophone of a word ("同一" for "同意"). Compared as toneless syllables these are
all the same: ``toneless_syllables("同意")`` and ``toneless_syllables("同一")`` are both
``["tong", "yi"]``. The steps: traditional → simplified (zhconv, so that pypinyin's phrase
readings apply), digits → Chinese numerals (cn2an: 15 → 十五), then pypinyin without tones.
Latin letters and digits that are left become lower-case words ("OK" → ``["ok"]``);
punctuation and spaces are dropped.

The libraries are imported on first use, not with this module, and stay in the calling
process: pypinyin about 57 MB resident with its phrase dictionary (12 MB with
``PYPINYIN_NO_PHRASES=true`` and ``PYPINYIN_NO_DICT_COPY=true`` in the environment before its
import), zhconv about 19 MB, cn2an about 5 MB. Call these where that memory is affordable (a
worker process, not the 150 MB daemon) or set those variables for the process.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Sequence

MAX_TEXT_CHARS = 20_000            # longer text is refused, not truncated silently
_LATIN_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LONGEST_NUMBER = 9                # longer digit runs (phone, account numbers) read digit by digit
_DIGITS = "零一二三四五六七八九"


def toneless_syllables(text: str) -> list[str]:
    """The toneless pinyin syllables of ``text`` (see the module docstring); [] for no speech."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text of {len(text)} characters is longer than {MAX_TEXT_CHARS}; "
                         "split it")
    if not text.strip():
        return []
    from pypinyin import Style, lazy_pinyin

    text = unicodedata.normalize("NFKC", text)      # full-width digits and letters → ASCII
    if _HAN.search(text):
        text = _simplified(text)
    text = _NUMBER.sub(_spoken_number, text)
    syllables: list[str] = []
    for item in lazy_pinyin(text, style=Style.NORMAL, errors="default", strict=False):
        # a syllable pypinyin made is one lower-case word; other text passes through as it
        # was, and its Latin words and digits are kept, its punctuation and spaces dropped
        syllables.extend(_LATIN_WORD.findall(item.lower()))
    return syllables


def syllable_error_rate(reference: str, hypothesis: str) -> float:
    """Edits (substituted, deleted, inserted syllables) from ``reference`` to ``hypothesis``
    over the number of syllables in ``reference``, on toneless pinyin (Levenshtein distance).

    0.0 is a perfect match; it can exceed 1.0 (more errors than syllables). With an empty
    reference, every syllable of the hypothesis counts as one error.
    """
    return syllable_edits(toneless_syllables(reference), toneless_syllables(hypothesis)) \
        / max(1, len(toneless_syllables(reference)))


def syllable_edits(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """The Levenshtein distance between two syllable sequences (unit costs)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def _simplified(text: str) -> str:
    import zhconv

    return zhconv.convert(text, "zh-hans")


def _spoken_number(match: re.Match) -> str:
    number = match.group(0)
    whole = number.split(".")[0]
    if len(whole) > _LONGEST_NUMBER or (len(whole) > 1 and whole.startswith("0")):
        return "".join(_DIGITS[int(d)] if d.isdigit() else "点" for d in number)
    import cn2an

    return cn2an.an2cn(number, "low")
