"""The view type: only masked names, never an ID or phone number, parts hashed canonically."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.evidence import canonical
from firmware.unit.display import captions
from firmware.unit.display.refusals import REFUSAL_WORDS, refusal_words
from firmware.unit.display.view import (PART_KINDS, Caption, DisplayView, DocumentView, NodeView,
                                   Person, ReadingView, Refusal, ViewError, mask_name)

SHA = "a" * 64
FLOW_CODES = ("prompt_playing", "min_duration", "missing_photo", "missing_answer",
              "answer_negative", "answer_unclear", "answer_not_asked", "missing_signature",
              "missing_badge",
              "signing", "pages_unread", "document_missing", "script_complete",
              "remote_not_joined", "remote_disconnected", "remote_unavailable", "remote_fault",
              "remote_reading", "remote_signing")


def test_names_are_masked_to_one_letter_and_a_star():
    assert mask_name("王小明") == "王*"
    assert mask_name("欧阳娜娜") == "欧*"
    assert mask_name("买买提·艾力") == "买*"
    assert mask_name("Anna Schmidt") == "A*"
    assert Person.of("policyholder", "王五").masked_name == "王*"


@pytest.mark.parametrize("name", ["王小明", "王**", "王*明", "*", "", "1*", "王"])
def test_a_person_cannot_hold_an_unmasked_name(name):
    with pytest.raises(ViewError, match="masked"):
        Person("policyholder", name)


def test_a_person_has_a_known_role():
    with pytest.raises(ViewError, match="role"):
        Person("cousin", "王*")


@pytest.mark.parametrize("text", [
    "请核对证件号 110101199003071234",
    "证件 11010119900307123X 有效",
    "旧证 110101900307123",
    "联系电话 13812345678",
    "电话 +86 138-1234-5678",
])
def test_id_and_phone_numbers_are_refused_anywhere(text):
    for build in (lambda: DisplayView(status=text),
                  lambda: DisplayView(state="recording", node=NodeView(1, 2, text)),
                  lambda: DisplayView(caption=Caption(text)),
                  lambda: DisplayView(refusal=Refusal("missing_answer", 0, text))):
        with pytest.raises(ViewError, match="ID number|phone number"):
            build()


def test_amounts_and_dates_are_not_mistaken_for_personal_numbers():
    view = DisplayView(caption=Caption("年交保费 1000000 元，共交 10 年，2025年1月1日生效，犹豫期15日。"))
    assert view.caption.text.startswith("年交保费")


@settings(max_examples=200, deadline=None)
@given(prefix=st.text(max_size=20), body=st.from_regex(r"[0-9]{17}[0-9X]", fullmatch=True),
       suffix=st.text(max_size=20))
def test_no_text_with_an_id_number_inside_gets_into_a_view(prefix, body, suffix):
    with pytest.raises(ViewError):
        DisplayView(caption=Caption(prefix + body + suffix))


def test_parts_are_canonical_json_with_words_for_codes():
    view = DisplayView(state="recording", node=NodeView(2, 9, "风险提示"),
                       caption=Caption.spoken("请您确认，本产品不是存款。", 3000, 5_000),
                       needs=("answer",), min_until_ns=9_000, elder=True,
                       refusal=Refusal("missing_answer", 7_000),
                       people=(Person.of("policyholder", "王小明"),))
    parts = view.parts()
    assert tuple(parts) == PART_KINDS
    for data in parts.values():
        canonical.encode(data)          # no floats, nothing that cannot be hashed
    assert parts["needs"]["needs"] == [{"need": "answer", "words": "请客户回答"}]
    assert parts["refusal"]["words"] == REFUSAL_WORDS["missing_answer"]
    assert parts["people"] == [{"role": "policyholder", "label": "投保人", "name": "王*",
                                "remote": False}]
    assert "王小明" not in canonical.encode(parts).decode()
    assert hashlib.sha256(canonical.encode(parts["node"])).hexdigest() == \
        hashlib.sha256(canonical.encode({"number": 2, "total": 9, "title": "风险提示"})).hexdigest()


def test_every_flow_reason_has_its_own_words_and_new_ones_are_not_blank():
    for code in FLOW_CODES:
        assert code in REFUSAL_WORDS and "：" in REFUSAL_WORDS[code]
    assert "远程参与人" in refusal_words("remote_camera_off")
    from firmware.unit.session import remote_parties
    for code in ("remote_not_joined", "remote_disconnected", "remote_unavailable",
                 "remote_fault"):                  # every code the remote parties' part uses
        assert f'"{code}"' in Path(remote_parties.__file__).read_text(encoding="utf-8")
        assert code in REFUSAL_WORDS and "：" in REFUSAL_WORDS[code]
    assert "selftest_failed" in refusal_words("selftest_failed")


@pytest.mark.parametrize("build, match", [
    (lambda: DisplayView(state="asleep"), "state"),
    (lambda: DisplayView(needs=("coffee",)), "needs"),
    (lambda: NodeView(0, 3, "x"), "node number"),
    (lambda: NodeView(4, 3, "x"), "node number"),
    (lambda: DocumentView("A" * 64, "x", 2, 0), "sha256"),
    (lambda: DocumentView(SHA, "x", 2, 0, (3,)), "read pages"),
    (lambda: ReadingView((DocumentView(SHA, "x", 2, 0),), page=3), "page 3"),
    (lambda: ReadingView((DocumentView(SHA, "x", 2, 0),), current=1), "current document"),
    (lambda: Refusal("Missing Answer", 0), "refusal code"),
    (lambda: DisplayView(people=("王*",)), "Person"),
    (lambda: Caption("x" * 3000), "at most"),
])
def test_inconsistent_views_are_refused(build, match):
    with pytest.raises(ViewError, match=match):
        build()


def test_names_in_a_prompt_can_be_masked_before_they_reach_the_view():
    text = captions.mask_names("王小明先生，您好。王小明先生的保单……", [("王小明", "王*")])
    assert text == "王*先生，您好。王*先生的保单……"
    DisplayView(caption=Caption(text))


@pytest.mark.parametrize("text", ["证件号 110101 19900307 123X", "证件号１１０１０１１９９００３０７１２３４"])
def test_id_numbers_in_groups_or_full_width_digits_are_refused(text):
    with pytest.raises(ViewError, match="ID number"):
        DisplayView(status=text)
