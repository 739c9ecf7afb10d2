"""Toneless pinyin syllables and the syllable error rate (the speech benchmark's metric)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.unit.understanding.pinyin import (syllable_edits, syllable_error_rate,
                                           toneless_readings, toneless_syllables)


@pytest.mark.parametrize("text, syllables", [
    ("同意", ["tong", "yi"]),
    ("同一", ["tong", "yi"]),                                  # homophones are equal
    ("請問您是否同意錄音錄像？", "qing wen nin shi fou tong yi lu yin lu xiang".split()),
    ("銀行", ["yin", "hang"]),                                 # simplified first: phrase reading
    ("犹豫期为15天", "you yu qi wei shi wu tian".split()),       # digits as spoken
    ("保费12000元", "bao fei yi wan er qian yuan".split()),
    ("利率3.5", "li lv san dian wu".split()),
    ("１５天", "shi wu tian".split()),                           # full-width digits
    ("电话13800138000", ["dian", "hua"] + "yi san ba ling ling yi san ba ling ling ling"
     .split()),                                              # too long for a number: digits
    ("OK，好的！", ["ok", "hao", "de"]),
    ("  ，。！？", []), ("", []),
])
def test_toneless_syllables(text, syllables):
    assert toneless_syllables(text) == syllables


def test_readings_keep_every_reading_where_no_phrase_decides():
    assert toneless_readings("调款") == [frozenset({"diao", "tiao"}), frozenset({"kuan", "xin"})]
    assert toneless_readings("条款") == [frozenset({"tiao"}), frozenset({"kuan"})]
    assert toneless_readings("银行") == [frozenset({"yin"}), frozenset({"hang"})]
    assert toneless_readings("OK hi，15") == [frozenset({"ok"}), frozenset({"hi"}),
                                              frozenset({"shi"}), frozenset({"wu"})]
    assert toneless_readings("，。 ") == []


def test_bounds_and_types_are_refused():
    with pytest.raises(ValueError, match="longer than"):
        toneless_syllables("好" * 20_001)
    with pytest.raises(TypeError):
        toneless_syllables(b"bytes")


def test_syllable_error_rate_counts_edits_over_the_reference():
    assert syllable_error_rate("请问您是否同意", "请问您是否同一") == 0.0
    assert syllable_error_rate("同意录音", "同意录") == pytest.approx(1 / 4)     # one deleted
    assert syllable_error_rate("同意", "我不同意") == pytest.approx(2 / 2)       # two inserted
    assert syllable_error_rate("同意", "") == 1.0
    assert syllable_error_rate("", "") == 0.0
    assert syllable_error_rate("", "同意") == 2.0      # every syllable of the hypothesis
    assert syllable_error_rate("是", "这是什么") > 1.0                           # can exceed 1
    # the recogniser's homophone with another first reading is no error
    assert syllable_error_rate("重点说明责任免除条款", "重点说明责任面出调款") == 0.0


syllable_lists = st.lists(st.sampled_from(["shi", "bu", "tong", "yi", "hao", "de"]),
                          max_size=12)


@settings(max_examples=200, deadline=None)
@given(syllable_lists, syllable_lists, syllable_lists)
def test_syllable_edits_is_a_distance(a, b, c):
    assert syllable_edits(a, a) == 0
    assert syllable_edits(a, b) == syllable_edits(b, a)
    assert syllable_edits(a, c) <= syllable_edits(a, b) + syllable_edits(b, c)
    assert abs(len(a) - len(b)) <= syllable_edits(a, b) <= max(len(a), len(b))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80),
                 st.text(alphabet="0123456789.．１２。，不是同意调行 OKa", max_size=40)))
def test_any_text_gives_syllables_and_readings(text):
    syllables = toneless_syllables(text)
    readings = toneless_readings(text)
    assert all(s and s.isascii() and s.isalnum() and s.islower() or s.isdigit()
               for s in syllables)
    assert all(r and all(w.isascii() and w.isalnum() for w in r) for r in readings)
    assert len(readings) == len(syllables)
