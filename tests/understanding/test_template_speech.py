"""What a script template tells speech understanding: the answer word lists (its own table, a
file it names, or the shipped lists) and the phrases each node must let the recording hear;
every problem reported at once."""
from __future__ import annotations

import textwrap

import pytest

from firmware.unit.session.script import (DEFAULT_ANSWERS, TemplateError, load_template,
                                          load_templates, parse_template)
from firmware.unit.understanding.answers import (AnswerWords, check_word_lists, read_word_lists,
                                                 word_lists_sha256)
from firmware.unit.understanding.phrases import find_phrases
from firmware.unit.understanding.service_worker import mono_16k

HEAD = """
[template]
id = "t"
version = "1"
title = "测试"
channel = "bank"
products = ["life"]
words_per_minute = 200
"""
NODE = """
[[node]]
id = "consent"
title = "同意"
kind = "consent"
prompt = "请回答。"
min_seconds = 1
requires = ["answer"]
answer_seconds = 3
"""


class _Said:
    def __init__(self, text: str) -> None:
        self.start_s, self.end_s, self.text = 0.0, 10.0, text


def test_the_shipped_templates_use_the_shipped_lists():
    shipped = read_word_lists(DEFAULT_ANSWERS)
    for template in load_templates().values():
        assert template.answers == shipped
        assert template.answers_source == str(DEFAULT_ANSWERS)


def test_the_shipped_required_phrases_are_in_what_the_unit_says_there():
    """The unit speaks these statements itself: the check then proves they were audible."""
    found = 0
    for template in load_templates().values():
        for node in template.nodes:
            for phrase in node.required_phrases:
                assert find_phrases([_Said(node.prompt)], [phrase]), (template.id, node.id)
                found += 1
    assert found >= 4


def test_a_template_may_give_its_own_lists_or_name_a_file(tmp_path):
    own = parse_template(HEAD + '[answers]\naffirmative = ["行"]\nnegative = ["不行"]\n' + NODE)
    assert own.answers["affirmative"] == ("行",) and own.answers_source == "template"
    lists = tmp_path / "lists" / "words.toml"
    lists.parent.mkdir()
    lists.write_text('[answers]\naffirmative = ["好"]\nnegative = ["不好"]\n'
                     'fillers = ["嗯"]\n', encoding="utf-8")
    path = tmp_path / "scripts" / "t.toml"
    path.parent.mkdir()
    path.write_text('answers = "../lists/words.toml"\n' + HEAD + NODE, encoding="utf-8")
    named = load_template(path)
    assert named.answers["fillers"] == ("嗯",)
    assert named.answers_source == str(path.parent / "../lists/words.toml")
    assert word_lists_sha256(named.answers) != word_lists_sha256(own.answers)


def test_every_problem_is_reported_at_once():
    text = HEAD + textwrap.dedent("""
        [answers]
        affirmative = ["是", "！"]
        negative = []
        maybe = ["也许"]
        """) + NODE + 'required_phrases = ["不是存款", 3]\nsalesperson_phrases = "保险责任"\n'
    with pytest.raises(TemplateError) as caught:
        parse_template(text)
    message = str(caught.value)
    for part in ("answers.maybe: unknown key", "answers.affirmative: '！' has nothing",
                 "answers.negative: needs at least one word", "required_phrases: 3 is not",
                 "salesperson_phrases: must be a list"):
        assert part in message, message


def test_a_missing_word_list_file_is_named():
    with pytest.raises(TemplateError, match="nowhere.toml"):
        parse_template('answers = "nowhere.toml"\n' + HEAD + NODE)


def test_the_light_check_agrees_with_the_word_lists():
    shipped = read_word_lists(DEFAULT_ANSWERS)
    assert check_word_lists(shipped) == (shipped, [])
    words = AnswerWords.from_mapping(shipped)        # what the worker builds from them
    assert words.affirmative == shipped["affirmative"]


def test_microphone_audio_becomes_the_recognisers_16k_mono():
    import numpy as np
    stereo = np.zeros((4800, 2), dtype=np.int16)
    stereo[:, 0], stereo[:, 1] = 1000, 3000
    out = mono_16k(stereo.tobytes(), 48_000, 2)
    assert out.dtype == np.int16 and abs(len(out) - 1600) <= 32
    assert abs(int(np.median(out)) - 2000) <= 2
