"""What the model is given: misaki's Mandarin phonemes for every shipped prompt are in Kokoro's
vocabulary, and long phoneme strings are cut where a speaker pauses, within the model's limit."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.speech.kokoro_assets import MAX_TOKENS
from drivers.speech.kokoro_vocab import EMBEDDING_ROWS, PAD_ID, token_ids
from drivers.speech.latin_letters import letter_symbols, spell_latin
from drivers.speech.phoneme_chunks import chunk_phonemes, speakable

SCRIPTS = Path(__file__).resolve().parents[3] / "config" / "scripts"


def shipped_prompts() -> list[str]:
    prompts: list[str] = []
    for path in sorted(SCRIPTS.glob("*.toml")):
        for node in tomllib.loads(path.read_text(encoding="utf-8"))["node"]:
            if node["prompt"] not in prompts:
                prompts.append(node["prompt"])
    return prompts


def test_the_vocabulary_fits_the_model():
    ids = token_ids()
    assert len(ids) == 114 and len(set(ids.values())) == 114
    assert PAD_ID not in ids.values() and max(ids.values()) < EMBEDDING_ROWS
    assert {"↓", "→", "↗", "↘", "ʨ", "ʰ", "ɕ", ",", ".", "?", " "} <= set(ids)
    with pytest.raises(TypeError):
        ids["x"] = 1                                                   # read-only


def test_every_phoneme_of_every_shipped_prompt_is_in_the_vocabulary():
    from misaki import zh          # jieba and pypinyin: loaded here only, as the worker does
    g2p = zh.ZHG2P()
    ids = token_ids()
    prompts = shipped_prompts()
    assert len(prompts) >= 10
    for prompt in prompts:
        phonemes, _ = g2p(prompt)
        unknown = {s for s in phonemes if s not in ids}
        assert not unknown, f"{prompt[:20]}: {unknown}"
        assert any(tone in phonemes for tone in "↓→↗↘")
        assert len(phonemes) <= 4 * MAX_TOKENS                      # cut into a few chunks
    numbers, _ = g2p("保费12000元")
    assert numbers == g2p("保费一万二千元")[0]                        # digits read as Chinese


@given(st.text(alphabet="ab↓, .?;—", max_size=1200), st.integers(min_value=16, max_value=510))
@settings(max_examples=300, deadline=None)
def test_chunks_stay_within_the_limit_and_keep_every_symbol(phonemes, limit):
    chunks = chunk_phonemes(phonemes, limit)
    assert all(0 < len(chunk) <= limit for chunk in chunks)
    assert "".join(chunks).replace(" ", "") == phonemes.replace(" ", "")


def test_chunks_are_cut_at_sentence_ends_before_commas():
    sentence = "ni↗n xau↓, ʨʰi↓ŋ tʰʊ↗ŋ i↘."
    chunks = chunk_phonemes(sentence * 12, 60)
    assert all(chunk.endswith(".") for chunk in chunks)
    assert len(chunks) == 12 // (60 // len(sentence))
    clauses = chunk_phonemes("a" * 30 + ", " + "b" * 30 + ".", 40)
    assert clauses == ["a" * 30 + ",", "b" * 30 + "."]


def test_punctuation_alone_is_not_speakable():
    assert not speakable(". , ?")
    assert speakable("a↓.")


def test_latin_letters_are_spelled_with_symbols_the_model_knows():
    from misaki import zh
    assert letter_symbols() <= set(token_ids())
    assert spell_latin("VIP客户") == " vˈi ˈI pˈi 客户"
    assert spell_latin("（a款）") == "（ ˈA 款）"
    phonemes, _ = zh.ZHG2P()(spell_latin("鑫享人生（B款）请出示ID卡"))
    assert set(phonemes) <= set(token_ids()) and "bˈi" in phonemes and "ˈI dˈi" in phonemes
