"""Phrase spotting in a timed transcript: toneless, across punctuation, spaces, traditional
characters, digits and segment boundaries, with the time range of each hit."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.unit.understanding.phrases import PhraseHit, find_phrases

FORBIDDEN = ["保本", "保息", "稳赚", "零风险", "无风险", "高收益", "比存款利息高", "到期还本"]


@dataclass(frozen=True)
class Said:
    start_s: float
    end_s: float
    text: str


def test_forbidden_phrases_are_found_with_their_times():
    transcript = [Said(10.0, 14.0, "这个产品保本，"), Said(14.0, 18.0, "保 息，比存款利息"),
                  Said(18.0, 19.0, "高。"), Said(30.0, 32.0, "投資有風險")]
    hits = find_phrases(transcript, FORBIDDEN)
    assert [h.phrase for h in hits] == ["保本", "保息", "比存款利息高"]
    assert hits[0] == PhraseHit("保本", pytest.approx(10.0 + 4 * 4 / 6), 14.0)  # 5th, 6th of 6
    assert hits[1].start_s == 14.0 and hits[1].end_s == pytest.approx(14.0 + 2 * 4 / 7)
    assert hits[2].start_s < 18.0 < hits[2].end_s == 19.0        # across two segments
    assert find_phrases(transcript, ["投资有风险"]) == [PhraseHit("投资有风险", 30.0, 32.0)]


def test_homophones_digits_and_repeats():
    transcript = [Said(0.0, 3.0, "犹豫期为15天"), Said(3.0, 5.0, "保本保本"),
                  Said(5.0, 6.0, "稳转"),                        # a homophone the recogniser chose
                  Said(6.0, 7.0, "免除调款")]                    # one whose first reading differs
    assert [h.phrase for h in find_phrases(transcript, ["犹豫期为十五天", "保本", "稳赚",
                                                        "责任免除条款", "免除条款"])] == \
        ["犹豫期为十五天", "保本", "保本", "稳赚", "免除条款"]


def test_nothing_said_nothing_found_and_empty_phrases_are_refused():
    assert find_phrases([], FORBIDDEN) == []
    assert find_phrases([Said(0, 1, "")], FORBIDDEN) == []
    with pytest.raises(ValueError, match="nothing that can be heard"):
        find_phrases([], ["保本", "，。"])
    with pytest.raises(TypeError):
        find_phrases([], "保本")


CHARS = "保本息稳赚零风险存款利高期还投资有"
segments = st.lists(st.tuples(st.floats(0, 100), st.floats(0, 10), st.text(CHARS + "，。 ",
                                                                           max_size=12)),
                    max_size=8)


@settings(max_examples=200, deadline=None)
@given(segments)
def test_every_hit_lies_within_the_transcript(raw):
    transcript = [Said(start, start + length, text) for start, length, text in raw]
    for hit in find_phrases(transcript, FORBIDDEN):
        assert hit.phrase in FORBIDDEN
        assert min(s.start_s for s in transcript) <= hit.start_s <= hit.end_s
        assert hit.end_s <= max(s.end_s for s in transcript)
