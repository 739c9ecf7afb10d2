"""Captions split into phrases whose offsets follow the voice."""
from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.unit.display.captions import MAX_PHRASE_CHARS, split
from firmware.unit.display.view import Caption


def test_a_prompt_splits_at_its_pauses_with_offsets_by_spoken_weight():
    phrases = split("您好，请问您是否清楚本产品不是存款？请回答清楚或不清楚。", 6000)
    assert [p.text for p in phrases] == ["您好，", "请问您是否清楚本产品不是存款？", "请回答清楚或不清楚。"]
    assert phrases[0].start_ms == 0
    assert 0 < phrases[1].start_ms < phrases[2].start_ms < 6000
    # the first phrase is short: its share of the time is small
    assert phrases[1].start_ms < 1200


def test_long_phrases_are_cut_to_fit_the_screen():
    phrases = split("这" * 45, 9000)
    assert [len(p.text) for p in phrases] == [20, 20, 5]
    assert [p.start_ms for p in phrases] == [0, 4000, 8000]


def test_a_caption_built_from_a_prompt_keeps_the_voice_start():
    caption = Caption.spoken("第一句。第二句。", 2000, started_ns=123)
    assert caption.started_ns == 123 and len(caption.phrases) == 2


def test_negative_duration_is_refused():
    with pytest.raises(ValueError):
        split("好。", -1)


@given(text=st.text(alphabet=st.sampled_from("保险产品不是存款您好 ，。？！、abc123"), max_size=200),
       duration=st.integers(0, 600_000))
def test_phrases_cover_the_text_in_order_within_the_duration(text, duration):
    phrases = split(text, duration)
    assert re.sub(r"\s", "", "".join(p.text for p in phrases)) == re.sub(r"\s", "", text)
    offsets = [p.start_ms for p in phrases]
    assert offsets == sorted(offsets)
    assert all(0 <= o <= duration for o in offsets)
    assert all(0 < len(p.text) <= MAX_PHRASE_CHARS + 4 for p in phrases)
