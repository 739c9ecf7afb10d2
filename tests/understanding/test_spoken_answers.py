"""Spoken Mandarin understood end to end: the unit's Kokoro voice says the customer's answer or
the salesperson's words, the real Whisper-base recogniser transcribes them, and the shipped
lists give the meaning or the misleading phrases with their times."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from drivers.speech.recognizer import Recognizer
from firmware.unit.understanding.answers import AnswerWords, Meaning, classify_answer
from firmware.unit.understanding.phrases import find_phrases
from kokoro_models import installed_kokoro
from spoken_lines import SpokenLines, silence
from whisper_models import installed_whisper

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ["保本", "保息", "稳赚", "零风险", "无风险", "高收益", "比存款利息高", "到期还本"]


@pytest.fixture(scope="module")
def models() -> Path:
    installed_kokoro()
    return installed_whisper()


@pytest.fixture(scope="module")
def spoken(models, tmp_path_factory):
    with SpokenLines(models, tmp_path_factory.mktemp("spoken")) as lines:
        yield lines


@pytest.fixture(scope="module")
def recognizer(models):
    with Recognizer(models, idle_s=600) as recognizer:
        yield recognizer


@pytest.fixture(scope="module")
def words() -> AnswerWords:
    return AnswerWords.from_toml(REPO / "config" / "understanding" / "answers.toml")


@pytest.mark.parametrize("said, meaning", [
    ("同意", Meaning.AFFIRMATIVE),
    ("不同意", Meaning.NEGATIVE),
    ("可以", Meaning.AFFIRMATIVE),
    ("不是", Meaning.NEGATIVE),
    ("我不明白", Meaning.NEGATIVE),
    ("我再想想", Meaning.UNCLEAR),
])
def test_a_spoken_answer_means_what_was_said(recognizer, spoken, words, said, meaning):
    audio = np.concatenate([silence(0.5), spoken.say(said), silence(0.5)])
    heard = recognizer.transcribe(audio)
    assert classify_answer(heard.text, words).meaning is meaning, heard.text


def test_no_answer_is_unclear(recognizer, words):
    heard = recognizer.transcribe(silence(4.0))
    assert classify_answer(heard.text, words).meaning is Meaning.UNCLEAR


def test_misleading_words_are_found_where_they_were_said(recognizer, spoken):
    said = "这个产品保本保息，比存款利息高。"
    audio = np.concatenate([silence(2.0), spoken.say(said, "zm_yunxi"), silence(1.0)])
    heard = recognizer.transcribe(audio)
    hits = find_phrases(heard.segments, FORBIDDEN)
    assert {"保本", "保息"} <= {hit.phrase for hit in hits}, heard.text
    for hit in hits:
        assert 1.5 <= hit.start_s <= hit.end_s <= heard.audio_s
