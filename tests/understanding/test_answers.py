"""Answer meaning from the caller's word lists: negation before affirmation, every text one of
three meanings, homophones equal, lists read from TOML with unknown keys refused."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.errors import ConfigError
from firmware.unit.understanding.answers import AnswerWords, Meaning, classify_answer

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "understanding" / "answers.toml"


@pytest.fixture(scope="module")
def shipped() -> AnswerWords:
    return AnswerWords.from_toml(SHIPPED)


@pytest.mark.parametrize("heard, meaning", [
    ("同意", Meaning.AFFIRMATIVE), ("我同意。", Meaning.AFFIRMATIVE),
    ("同一", Meaning.AFFIRMATIVE),                      # the recogniser's homophone
    ("是", Meaning.AFFIRMATIVE), ("是的", Meaning.AFFIRMATIVE), ("對", Meaning.AFFIRMATIVE),
    ("清楚", Meaning.AFFIRMATIVE), ("明白了", Meaning.AFFIRMATIVE),
    ("好的", Meaning.AFFIRMATIVE), ("可以", Meaning.AFFIRMATIVE), ("愿意", Meaning.AFFIRMATIVE),
    ("没问题", Meaning.AFFIRMATIVE), ("OK", Meaning.AFFIRMATIVE),
    ("不同意", Meaning.NEGATIVE), ("我不同意！", Meaning.NEGATIVE), ("不是", Meaning.NEGATIVE),
    ("不清楚", Meaning.NEGATIVE), ("不明白", Meaning.NEGATIVE), ("我不要", Meaning.NEGATIVE),
    ("不愿意", Meaning.NEGATIVE), ("不可以", Meaning.NEGATIVE), ("不好", Meaning.NEGATIVE),
    ("我再想想", Meaning.UNCLEAR), ("我在想想", Meaning.UNCLEAR),
    ("好的，我再想想", Meaning.UNCLEAR), ("同意吗？", Meaning.UNCLEAR),
    ("这个时候不方便", Meaning.UNCLEAR),                  # a stray negation, no listed word
    ("", Meaning.UNCLEAR), ("   ", Meaning.UNCLEAR), ("。", Meaning.UNCLEAR),
    ("嗯，是的", Meaning.AFFIRMATIVE), ("对，我同意", Meaning.AFFIRMATIVE),
    ("好的，没问题", Meaning.AFFIRMATIVE), ("我已经了解了", Meaning.AFFIRMATIVE),
    ("普通意", Meaning.UNCLEAR),                        # a misheard 不同意 is no yes
    ("今天天气很好啊", Meaning.UNCLEAR),                  # a yes word inside other words
    ("嗯嗯", Meaning.UNCLEAR), ("hello", Meaning.UNCLEAR),
    ("是是是", Meaning.AFFIRMATIVE), ("试试试试试试试试", Meaning.UNCLEAR),   # a loop is no yes
    ("同意同意同意同意", Meaning.UNCLEAR), ("好的，好的，好的", Meaning.AFFIRMATIVE),
])
def test_the_shipped_lists(shipped, heard, meaning):
    assert classify_answer(heard, shipped).meaning is meaning


def test_the_result_names_the_deciding_word_and_what_was_heard(shipped):
    result = classify_answer("我不同意", shipped)
    assert (result.meaning, result.word, result.heard) == \
        (Meaning.NEGATIVE, "不同意", ("wo", "bu", "tong", "yi"))
    negated = classify_answer("不对的", shipped)
    assert negated.meaning is Meaning.NEGATIVE and negated.word == "不对"
    assert classify_answer("", shipped).word is None
    assert Meaning.AFFIRMATIVE == "affirmative"       # what goes on the chain


def test_the_lists_come_from_the_caller():
    words = AnswerWords(affirmative=["可以办"], negative=["算了"])
    assert classify_answer("可以办", words).meaning is Meaning.AFFIRMATIVE
    assert classify_answer("同意", words).meaning is Meaning.UNCLEAR     # not in these lists
    assert classify_answer("算了，可以办", words).meaning is Meaning.NEGATIVE
    assert classify_answer("不可以办", words).meaning is Meaning.UNCLEAR   # 不: no filler
    assert classify_answer("嗯，可以办", words).meaning is Meaning.UNCLEAR
    wider = AnswerWords(affirmative=["可以办"], negative=["算了"], negators=["不"],
                        fillers=["嗯"])
    assert classify_answer("不可以办", wider).meaning is Meaning.NEGATIVE
    assert classify_answer("嗯，可以办", wider).meaning is Meaning.AFFIRMATIVE


def test_lists_are_read_from_a_toml_table_and_mistakes_are_named(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[answers]\naffirmative = ["行"]\nnegative = ["不行"]\n', encoding="utf-8")
    words = AnswerWords.from_toml(good)
    assert words.affirmative == ("行",) and words.hesitant == ()
    cases = {
        '[answers]\naffirmative = ["行"]\nnegative = ["不行"]\nyes = ["是"]\n': "unknown key",
        '[answers]\naffirmative = []\nnegative = ["不行"]\n': "affirmative: needs at least",
        '[answers]\naffirmative = "行"\nnegative = ["不行"]\n': "expected a list",
        '[answers]\naffirmative = ["？"]\nnegative = ["不行"]\n': "nothing that can be heard",
        '[answers]\naffirmative = [1]\nnegative = ["不行"]\n': "is not a word",
        '[other]\n': r"no \[answers\] table",
        'answers = [': "not valid TOML",
    }
    for number, (text, reason) in enumerate(cases.items()):
        bad = tmp_path / f"bad{number}.toml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=reason) as caught:
            AnswerWords.from_toml(bad)
        assert str(bad) in str(caught.value)
    with pytest.raises(ConfigError, match="cannot read"):
        AnswerWords.from_toml(tmp_path / "absent.toml")
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (65 * 1024))
    with pytest.raises(ConfigError, match="larger than"):
        AnswerWords.from_toml(huge)


# -- properties --------------------------------------------------------------------------------
# Words for generated lists come from disjoint syllable sets, so no affirmative word can hide a
# negative one by accident; pieces are joined with punctuation, where pypinyin's phrase
# readings do not reach across.
YES_CHARS = "同意清楚明白愿可以确认好的对"
NO_CHARS = "拒绝反驳算罢休"
OTHER_CHARS = "天气今日山水花草猫狗书本"
yes_words = st.text(alphabet=YES_CHARS, min_size=1, max_size=3)   # 4 alike: a loop
no_words = st.text(alphabet=NO_CHARS, min_size=1, max_size=4)
others = st.text(alphabet=OTHER_CHARS + "，。 ", max_size=8)
SLOW = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@SLOW
@given(st.lists(yes_words, min_size=1, max_size=4), st.lists(no_words, min_size=1, max_size=4),
       st.data())
def test_negation_wins_over_affirmation_wherever_they_are(affirmative, negative, data):
    words = AnswerWords(affirmative=affirmative, negative=negative)
    yes, no = data.draw(st.sampled_from(affirmative)), data.draw(st.sampled_from(negative))
    before, between, after = data.draw(others), data.draw(others), data.draw(others)
    order = data.draw(st.booleans())
    first, second = (yes, no) if order else (no, yes)
    text = f"{before}，{first}，{between}，{second}，{after}"
    assert classify_answer(text, words).meaning is Meaning.NEGATIVE


@SLOW
@given(st.lists(yes_words, min_size=1, max_size=4), st.lists(no_words, min_size=1, max_size=4),
       st.data())
def test_a_listed_word_alone_means_its_list(affirmative, negative, data):
    words = AnswerWords(affirmative=affirmative, negative=negative)
    yes, no = data.draw(st.sampled_from(affirmative)), data.draw(st.sampled_from(negative))
    assert classify_answer(f"{yes}。", words).meaning is Meaning.AFFIRMATIVE
    assert classify_answer(no, words).meaning is Meaning.NEGATIVE


@SLOW
@given(st.lists(yes_words, min_size=1, max_size=4), st.lists(no_words, min_size=1, max_size=4),
       others)
def test_what_holds_no_listed_word_is_unclear(affirmative, negative, text):
    words = AnswerWords(affirmative=affirmative, negative=negative)
    assert classify_answer(text, words).meaning is Meaning.UNCLEAR


@SLOW
@given(st.lists(yes_words, min_size=1, max_size=4), st.lists(no_words, min_size=1, max_size=4),
       st.data())
def test_a_yes_among_other_words_is_not_a_yes(affirmative, negative, data):
    words = AnswerWords(affirmative=affirmative, negative=negative)
    yes = data.draw(st.sampled_from(affirmative))
    other = data.draw(st.text(alphabet=OTHER_CHARS, min_size=1, max_size=4))
    text = f"{other}，{yes}" if data.draw(st.booleans()) else f"{yes}，{other}"
    assert classify_answer(text, words).meaning is Meaning.UNCLEAR


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=60),
                 st.text(alphabet=YES_CHARS + NO_CHARS + "不没别吗想0123456789１２，。OKok ",
                         max_size=40),
                 st.none(), st.integers(), st.binary(max_size=8)))
def test_any_input_is_one_of_three_meanings_and_never_raises(shipped, text):
    result = classify_answer(text, shipped)
    assert result.meaning in (Meaning.AFFIRMATIVE, Meaning.NEGATIVE, Meaning.UNCLEAR)
    if result.meaning is not Meaning.UNCLEAR:
        assert result.word is not None


def test_text_longer_than_any_answer_is_unclear(shipped):
    result = classify_answer("同意" * 10_001, shipped)
    assert (result.meaning, result.word, result.heard) == (Meaning.UNCLEAR, None, ())
