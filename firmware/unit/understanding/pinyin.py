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
    """The toneless pinyin syllables of ``text`` (see the module docstring); [] for no speech.

    A character with several readings gets the one pypinyin chooses in context (its phrase
    dictionary, else the most common reading)."""
    from pypinyin import Style, lazy_pinyin

    text = _prepared(text)
    syllables: list[str] = []
    for item in lazy_pinyin(text, style=Style.NORMAL, errors="default", strict=False):
        # a syllable pypinyin made is one lower-case word; other text passes through as it
        # was, and its Latin words and digits are kept, its punctuation and spaces dropped
        syllables.extend(_LATIN_WORD.findall(item.lower()))
    return syllables


def toneless_readings(text: str) -> list[frozenset[str]]:
    """Like :func:`toneless_syllables`, but each syllable as the set of toneless readings its
    character may have where no phrase decides it ("调款" → {diao, tiao} {kuan, xin}): the
    recogniser's homophone "调款" for "条款" is then the same two syllables."""
    from pypinyin import Style, pinyin

    text = _prepared(text)
    readings: list[frozenset[str]] = []
    for item in pinyin(text, style=Style.NORMAL, heteronym=True, errors="default",
                       strict=False):
        words = [w for reading in item for w in _LATIN_WORD.findall(reading.lower())]
        if len(item) == 1 and len(words) != 1:  # text pypinyin passed through: its words
            readings.extend(frozenset([w]) for w in words)
        elif words:
            readings.append(frozenset(words))
    return readings


def syllable_error_rate(reference: str, hypothesis: str) -> float:
    """Edits (substituted, deleted, inserted syllables) from ``reference`` to ``hypothesis``
    over the number of syllables in ``reference``, on toneless pinyin (Levenshtein distance).

    A hypothesis syllable matches when its character can be read as the reference's
    (:func:`toneless_readings`), so a homophone the recogniser chose is no error. 0.0 is a
    perfect match; it can exceed 1.0 (more errors than syllables). With an empty reference,
    every syllable of the hypothesis counts as one error.
    """
    said = toneless_readings(reference)
    return syllable_edits(said, toneless_readings(hypothesis)) / max(1, len(said))


def syllable_edits(reference: Sequence[str | frozenset[str]],
                   hypothesis: Sequence[str | frozenset[str]]) -> int:
    """The Levenshtein distance between two syllable sequences (unit costs); syllables given
    as sets of readings are equal when they share one."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (not same_syllable(ref, hyp))))
        previous = current
    return previous[-1]


def same_syllable(a: str | frozenset[str], b: str | frozenset[str]) -> bool:
    """Equal syllables, or reading sets that share a reading."""
    if isinstance(a, frozenset) or isinstance(b, frozenset):
        a = a if isinstance(a, frozenset) else frozenset([a])
        b = b if isinstance(b, frozenset) else frozenset([b])
        return not a.isdisjoint(b)
    return a == b


def _prepared(text: str) -> str:
    """``text`` checked and normalised: NFKC, simplified characters, numbers as spoken."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text of {len(text)} characters is longer than {MAX_TEXT_CHARS}; "
                         "split it")
    text = unicodedata.normalize("NFKC", text)      # full-width digits and letters → ASCII
    if _HAN.search(text):
        text = _simplified(text)
    return _NUMBER.sub(_spoken_number, text)


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
