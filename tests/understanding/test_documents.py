"""Reading the shown ID card and 投保单 from OCR lines and comparing them with the ticket: on
the real OCR of rendered documents, on hand-made lines, and on arbitrary lines (hypothesis)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.camera.documents import (ApplicationForm, sample_application_form,
                                      sample_id_card)
from drivers.camera.scenes import SceneRenderer
from drivers.vision import DocumentReader
from firmware.evidence.canonical import encode
from firmware.unit.understanding.documents import (DOCUMENT_MISMATCH, ID_MISMATCH, MATCH, MISMATCH,
                                              UNREADABLE, DocumentRuleError,
                                              check_application_form, check_id_card,
                                              read_application_form, read_id_card)

FORM_PATTERN = r"TB\d{13}"
OTHER_NUMBER = "11010519491231002X"    # valid GB 11643, not the ticket's
SALT = "ab" * 16


@dataclass(frozen=True)
class Line:
    text: Any
    box: Any = None
    score: Any = 0.99


def row(text: str, x: int, y: int, w: int = 100, h: int = 30) -> Line:
    return Line(text, ((x, y), (x + w, y), (x + w, y + h), (x, y + h)))


@pytest.fixture(scope="module")
def reader():
    with DocumentReader(threads=2) as r:
        yield r


def shown(reader: DocumentReader, scene: str, size: tuple[int, int], **content: Any):
    renderer = SceneRenderer(*size)
    renderer.set_scene(scene, **content)
    return reader.read(renderer.render(12_345_678_900, 370))


# -- on the real OCR of rendered documents -------------------------------------------------------
@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)], ids=["demo", "unit"])
def test_card_read_exactly_and_matches_the_ticket(reader, size):
    card = sample_id_card()
    reading = read_id_card(shown(reader, "id_card", size))
    assert (reading.name, reading.number) == (card.name, card.number)
    check = check_id_card(reading, name=card.name, number=card.number)
    assert check.outcome == MATCH and check.finding is None
    assert check.public["fields"] == {"number": "match", "name": "match"}


def test_card_with_another_number_is_a_mismatch(reader):
    ticket = sample_id_card()
    shown_card = dataclasses.replace(ticket, number=OTHER_NUMBER)
    reading = read_id_card(shown(reader, "id_card", (640, 360), card=shown_card))
    assert reading.number == OTHER_NUMBER
    check = check_id_card(reading, name=ticket.name, number=ticket.number)
    assert check.outcome == MISMATCH and check.finding == ID_MISMATCH
    assert check.public["fields"] == {"number": "mismatch", "name": "match"}


def test_card_of_another_person_is_a_mismatch(reader):
    ticket = sample_id_card()
    other = dataclasses.replace(ticket, name="王秀英", number=OTHER_NUMBER)
    check = check_id_card(read_id_card(shown(reader, "id_card", (1920, 1080), card=other)),
                          name=ticket.name, number=ticket.number)
    assert check.finding == ID_MISMATCH
    assert check.public["fields"] == {"number": "mismatch", "name": "mismatch"}


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)], ids=["demo", "unit"])
def test_application_number_read_and_matched(reader, size):
    form = sample_application_form()
    reading = read_application_form(shown(reader, "application_form", size), FORM_PATTERN)
    assert reading.application_no == form.application_no
    assert check_application_form(reading, application_no=form.application_no).outcome == MATCH


def test_another_application_form_is_a_document_mismatch(reader):
    other = ApplicationForm(application_no="TB2025061800999")
    reading = read_application_form(shown(reader, "application_form", (640, 360), form=other),
                                    FORM_PATTERN)
    check = check_application_form(reading, application_no="TB2025061800123")
    assert check.outcome == MISMATCH and check.finding == DOCUMENT_MISMATCH


def test_records_get_no_personal_data(reader):
    card = sample_id_card()
    check = check_id_card(read_id_card(shown(reader, "id_card", (640, 360))),
                          name=card.name, number=card.number)
    public = encode(check.public).decode()
    for secret in (card.name, card.number, card.number[6:14], card.address[:6]):
        assert secret not in public
    private = check.private_bytes().decode()
    assert card.number in private and card.name in private
    assert check.digest == hashlib.sha256(check.private_bytes()).hexdigest()
    assert check.public["digest"] == check.digest


# -- hand-made lines -----------------------------------------------------------------------------
def test_name_found_beside_its_label_by_position():
    lines = [row("演示样卡", 700, 20), row("姓名", 60, 70, 60), row("性别", 60, 150, 60),
             row("男", 170, 146, 30), row("李明华", 170, 64, 130)]
    assert read_id_card(lines).name == "李明华"


def test_name_on_the_label_line_and_without_boxes():
    assert read_id_card([Line("姓名：欧阳 娜娜")]).name == "欧阳娜娜"
    assert read_id_card([Line("姓名"), Line("阿依古丽·买买提")]).name == "阿依古丽·买买提"


@pytest.mark.parametrize("text, number", [
    ("公民身份号码 310115198503071230", "310115198503071230"),
    ("3101 1519 8503 0712 30", "310115198503071230"),
    ("３１０１１５１９８５０３０７１２３０", "310115198503071230"),      # full-width digits
    ("31011519850307l23O", "310115198503071230"),                       # l and O misread
    ("11010519491231002x", "11010519491231002X")])
def test_number_found_in_what_ocr_gives(text, number):
    reading = read_id_card([Line(text)])
    assert reading.number == number and not reading.number_invalid


def test_a_number_failing_the_check_character_is_flagged_not_used():
    reading = read_id_card([Line("公民身份号码"), Line("310115198503071231")])
    assert reading.number is None and reading.number_invalid
    check = check_id_card(reading, name="李明华", number="310115198503071230")
    assert check.outcome == UNREADABLE and check.public["number_invalid"] is True


def test_two_numbers_the_labelled_one_wins_else_none():
    both = [Line("310115198503071230"), Line(f"公民身份号码 {OTHER_NUMBER}")]
    assert read_id_card(both).number == OTHER_NUMBER
    assert read_id_card([Line("310115198503071230"), Line(OTHER_NUMBER)]).number is None


def test_nothing_read_is_unreadable_not_a_mismatch():
    check = check_id_card(read_id_card([]), name="李明华", number="310115198503071230")
    assert check.outcome == UNREADABLE and check.finding is None


def test_application_number_prefers_the_labelled_line():
    lines = [Line("参考 TB2025000000001"), Line("投保单号:TB2025061800123")]
    assert read_application_form(lines, FORM_PATTERN).application_no == "TB2025061800123"
    ambiguous = [Line("TB2025000000001"), Line("TB2025061800123")]
    assert read_application_form(ambiguous, FORM_PATTERN).application_no is None
    longer = [Line("投保单号 TB20250618001234")]     # one digit too many: not this number
    assert read_application_form(longer, FORM_PATTERN).application_no is None


def test_same_salt_same_digest_fresh_salt_different():
    reading = read_id_card([Line("姓名 李明华"), Line("310115198503071230")])
    a = check_id_card(reading, name="李明华", number="310115198503071230", salt=SALT)
    b = check_id_card(reading, name="李明华", number="310115198503071230", salt=SALT)
    c = check_id_card(reading, name="李明华", number="310115198503071230")
    assert a.digest == b.digest != c.digest
    assert json.loads(a.private_bytes())["salt"] == SALT


@pytest.mark.parametrize("pattern", ["", "(", "a*", "x" * 300, 42])
def test_unusable_patterns_refused(pattern):
    with pytest.raises(DocumentRuleError):
        read_application_form([Line("TB2025061800123")], pattern)


def test_unusable_expected_values_refused():
    reading = read_id_card([])
    with pytest.raises(DocumentRuleError):
        check_id_card(reading, name="", number="310115198503071230")
    with pytest.raises(DocumentRuleError):
        check_id_card(reading, name="李明华", number=" ")
    with pytest.raises(DocumentRuleError):
        check_application_form(read_application_form([], FORM_PATTERN), application_no="")
    with pytest.raises(DocumentRuleError):
        check_id_card(reading, name="李明华", number="310115198503071230", salt="short")


# -- arbitrary lines -----------------------------------------------------------------------------
_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                    st.floats(allow_nan=True, allow_infinity=True))
_point = st.one_of(st.tuples(st.floats(allow_nan=True, allow_infinity=True),
                             st.floats(allow_nan=True, allow_infinity=True)),
                   st.tuples(st.integers(-10**12, 10**12), st.integers(-10**12, 10**12)),
                   st.lists(_scalar, max_size=3), _scalar)
_box = st.one_of(st.none(), _scalar, st.lists(_point, max_size=6))
_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet="0123456789Xx OlI公民身份号码姓名投保单号：:TB·", max_size=60),
    _scalar)
_lines = st.lists(st.builds(Line, _text, _box, _scalar), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_lines)
def test_arbitrary_ocr_lines_never_crash_the_parsers(lines):
    card = read_id_card(lines)
    assert card.name is None or 2 <= len(card.name) <= 15
    assert card.number is None or len(card.number) == 18
    form = read_application_form(lines, FORM_PATTERN)
    assert form.application_no is None or form.application_no.startswith("TB")
    for check in (check_id_card(card, name="李明华", number="310115198503071230"),
                  check_application_form(form, application_no="TB2025061800123")):
        assert check.outcome in (MATCH, MISMATCH, UNREADABLE)
        encode(check.public)
        assert hashlib.sha256(check.private_bytes()).hexdigest() == check.digest


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.builds(Line, st.text(max_size=2000),
                                st.just(((0, 0), (1, 0), (1, 1), (0, 1))),
                                st.floats(0, 1)), min_size=0, max_size=600))
def test_long_input_is_bounded(lines):
    reading = read_id_card(lines)
    assert len(reading.lines) <= 400
    assert all(len(line.text) <= 200 for line in reading.lines)
    assert all(math.isfinite(line.score) for line in reading.lines)
