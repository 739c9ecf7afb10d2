"""What the model is given: misaki's Mandarin phonemes for every shipped prompt are in Kokoro's
vocabulary, and long phoneme strings are cut where a speaker pauses, within the model's limit."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.speech.kokoro_assets import MAX_TOKENS
from drivers.speech.kokoro_vocab import EMBEDDING_ROWS, PAD_ID, token_ids
from drivers.speech.latin_letters import letter_symbols, spell_latin
from drivers.speech.phoneme_chunks import chunk_phonemes, speakable
from firmware.ticket import ticket_from_spec
from firmware.unit.binder import UNBOUND_FACTS, rendered_prompts
from firmware.unit.session.script import load_templates
from firmware.unit.session.wording import product_facts

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "config" / "scripts"
DEMO_SALE = REPO / "firmware" / "samples" / "demo-sale.json"
#: The demo sale's product made a participating design with uncertain returns, and with the
#: other forms of the filled-in wording: yuan and 角, monthly payment, cover to an age, a
#: Latin letter in the name.
UNCERTAIN_PRODUCT = {"name": "示例稳盈两全保险（分红型）B款", "kind": "participating",
                     "returns": "uncertain", "premium_yuan": "12345.60",
                     "frequency": "monthly", "payment_years": 10,
                     "insurance_period": {"to_age": 88}, "cooling_off_days": 20}


def sale_facts() -> dict[str, dict[str, str]]:
    """The facts prompts speak, by sale, made the way the unit makes them when a ticket binds
    a session (``TicketBinder.bind``: ``product_facts`` of the ticket's insurer and product):
    the demo sale (fixed returns), the same sale of an uncertain-return product, and no
    ticket at all (the default binding's ``UNBOUND_FACTS``)."""
    spec = json.loads(DEMO_SALE.read_text(encoding="utf-8"))
    now = dt.datetime.now(dt.timezone.utc)
    out = {"unbound": dict(UNBOUND_FACTS)}
    for name, product in (("fixed", spec["product"]), ("uncertain", UNCERTAIN_PRODUCT)):
        ticket = ticket_from_spec({**spec, "product": product}, now)
        assert ticket.product.returns == name
        out[name] = product_facts(ticket.insurer, ticket.product)
    return out


def spoken_prompts() -> list[str]:
    """Every shipped template's every prompt as the unit speaks it: filled with each sale's
    facts by the unit's own rendering (``rendered_prompts``), each distinct text once."""
    prompts: list[str] = []
    sales = sale_facts()
    for template in load_templates(SCRIPTS).values():
        for facts in sales.values():
            for text in rendered_prompts(template, facts).values():
                if text not in prompts:
                    prompts.append(text)
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
    prompts = spoken_prompts()
    assert len(prompts) >= 10
    assert not [p for p in prompts if "{" in p or "}" in p]           # every field filled
    problems = []
    for prompt in prompts:
        phonemes, _ = g2p(spell_latin(prompt))          # as KokoroVoice.phonemes reads it
        unknown = {s for s in phonemes if s not in ids}
        if unknown:
            problems.append(f"{prompt[:40]}: {sorted(unknown)}")
        assert any(tone in phonemes for tone in "↓→↗↘")
        assert len(phonemes) <= 4 * MAX_TOKENS                      # cut into a few chunks
    assert not problems, "phonemes the voice does not know:\n" + "\n".join(problems)
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
