"""Script templates: the shipped ones load; a bad one is refused with key path and reason."""
from __future__ import annotations

import pytest

from firmware.unit.session.script import TemplateError, load_templates, parse_template

GOOD = """
[template]
id = "t"
version = "1"
title = "T"
channel = "bank"
products = ["life"]
elder = false
words_per_minute = 300

[[node]]
id = "consent"
title = "告知"
kind = "consent"
prompt = "同意吗？"
min_seconds = 1
requires = ["answer"]
answer_seconds = 2
"""


def test_shipped_templates_cover_the_regulation():
    templates = load_templates()
    assert set(templates) >= {"bank-life", "bank-participating", "bank-life-elder",
                              "bank-participating-elder"}
    life = [n.id for n in templates["bank-life"].nodes]
    assert life[0] == "consent" and life[-1] == "signature"
    kinds = {n.kind for n in templates["bank-life"].nodes}
    assert kinds >= {"consent", "show_credentials", "show_id", "documents", "statement",
                     "question", "signature"}
    assert "uncertain-returns" in [n.id for n in templates["bank-participating"].nodes]
    elder = templates["bank-life-elder"]
    assert elder.elder and elder.words_per_minute < templates["bank-life"].words_per_minute
    assert {"suitability", "extra-confirm"} <= {n.id for n in elder.nodes}
    assert "uncertain-returns" in [n.id for n in templates["bank-participating-elder"].nodes]
    assert len({t.sha256 for t in templates.values()}) == len(templates)


def test_a_good_template_parses_and_its_hash_is_of_the_text():
    import hashlib
    t = parse_template(GOOD)
    assert t.sha256 == hashlib.sha256(GOOD.encode()).hexdigest()
    assert t.nodes[0].requires == ("answer",)


@pytest.mark.parametrize("change, message", [
    (('kind = "consent"', 'kind = "sing"'), "node[0] (consent).kind: 'sing' is not one of"),
    (('min_seconds = 1', 'min_seconds = "x"'), "node[0] (consent).min_seconds: must be float"),
    (('requires = ["answer"]', 'requires = ["selfie"]'), "'selfie' is not one of"),
    (('answer_seconds = 2', 'answer_seconds = 0'), "needs a window longer than 0 s"),
    (('words_per_minute = 300', 'words_per_minute = 9'), "template.words_per_minute"),
    (('elder = false', 'elder = false\ncolour = "red"'), "template.colour: unknown key"),
    (('kind = "consent"', 'kind = "statement"'), "the first node must be the recording notice"),
    (('prompt = "同意吗？"', 'prompt = " "'), "prompt: must not be empty"),
])
def test_bad_templates_are_refused_with_the_key_and_reason(change, message):
    with pytest.raises(TemplateError) as info:
        parse_template(GOOD.replace(*change), "bad.toml")
    assert "bad.toml" in str(info.value) and message in str(info.value)


def test_duplicate_node_ids_and_bad_toml(tmp_path):
    doubled = GOOD + GOOD[GOOD.index("[[node]]"):]
    with pytest.raises(TemplateError, match="id 'consent' is used twice"):
        parse_template(doubled)
    with pytest.raises(TemplateError, match="not valid TOML"):
        parse_template("[template")
