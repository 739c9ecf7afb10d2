"""The policy's facts in spoken Mandarin, checked against a table and against cn2an's parser."""
from __future__ import annotations

from decimal import Decimal

import cn2an
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.unit.session.wording import (FIELDS, PromptFieldError, age_words, coverage_words,
                                      days_words, frequency_words, insurance_period_words,
                                      money_words, number_words, payment_words, product_facts,
                                      quantity_words, render_prompt, template_fields,
                                      years_words)
from firmware.ticket import InsurancePeriod, Product


@pytest.mark.parametrize("amount, words", [
    (12000, "一万二千元"),
    (Decimal("12345.6"), "一万二千三百四十五元六角"),
    (100000, "十万元"),
    (3000000, "三百万元"),
    (0, "零元"),
    (2, "两元"),
    (10, "十元"),
    (15, "十五元"),
    (110, "一百一十元"),
    (200, "二百元"),
    (1005, "一千零五元"),
    (2000, "两千元"),
    (10050, "一万零五十元"),
    (20000, "两万元"),
    (22000, "两万二千元"),
    (50000, "五万元"),
    (100010, "十万零一十元"),
    (150000, "十五万元"),
    (1000050, "一百万零五十元"),
    (1001000, "一百万一千元"),
    (1000100, "一百万零一百元"),
    (20010000, "两千零一万元"),
    (100005000, "一亿零五千元"),   # cn2an 0.5.24 says 一亿五千: heard as 150,000,000
    (100000001, "一亿零一元"),
    (200000000, "两亿元"),
    (1000000000, "十亿元"),
    (Decimal("0.05"), "五分"),
    (Decimal("0.5"), "五角"),
    (Decimal("0.2"), "两角"),
    (Decimal("12.05"), "十二元零五分"),
    (Decimal("12.50"), "十二元五角"),
    (Decimal("12.55"), "十二元五角五分"),
    (Decimal("100.50"), "一百元五角"),
    ("8888.88", "八千八百八十八元八角八分"),
])
def test_money(amount: Decimal | int | str, words: str) -> None:
    assert money_words(amount) == words


def test_periods_ages_days_frequencies() -> None:
    assert years_words(10) == "十年"
    assert years_words(2) == "两年"
    assert years_words(20) == "二十年"
    assert years_words(12) == "十二年"
    assert age_words(88) == "八十八周岁"
    assert age_words(105) == "一百零五周岁"
    assert days_words(15) == "十五天"
    assert days_words(20) == "二十天"
    assert insurance_period_words(InsurancePeriod.years(10)) == "十年"
    assert insurance_period_words(InsurancePeriod.to_age(88)) == "至八十八周岁"
    assert insurance_period_words(InsurancePeriod.lifetime()) == "终身"
    assert coverage_words(InsurancePeriod.lifetime()) == "保至终身"
    assert coverage_words(InsurancePeriod.to_age(70)) == "保至七十周岁"
    assert coverage_words(InsurancePeriod.years(20)) == "保二十年"
    assert [frequency_words(f) for f in ("annual", "monthly", "single")] == \
        ["年交", "月交", "趸交"]
    assert payment_words("annual", 5) == "年交，交费五年"
    assert payment_words("single", 1) == "趸交"
    with pytest.raises(ValueError, match="weekly"):
        frequency_words("weekly")


@pytest.mark.parametrize("bad", [-1, 10 ** 12, 1.5, True, "12"])
def test_numbers_out_of_range_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        number_words(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [Decimal("-1"), Decimal("0.001"), Decimal("NaN"), 1.5,
                                 Decimal(10 ** 12)])
def test_money_out_of_range_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        money_words(bad)  # type: ignore[arg-type]


@given(st.integers(0, 10 ** 9))
def test_any_amount_reads_back_through_cn2an(n: int) -> None:
    words = money_words(n)
    assert words.endswith("元")
    assert cn2an.cn2an(words[:-1], "normal") == n
    assert cn2an.cn2an(number_words(n), "normal") == n
    assert cn2an.cn2an(quantity_words(n), "smart") == n


@given(st.integers(0, 10 ** 11 - 1))
def test_any_number_with_fen_reads_back(fen: int) -> None:
    words = money_words(Decimal(fen) / 100)
    whole, jiao, cents = fen // 100, fen // 10 % 10, fen % 10
    if whole:
        assert cn2an.cn2an(words.split("元")[0], "smart") == whole
    digits = {"零": 0, "一": 1, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
    rest = words.split("元")[-1] if whole else words
    assert (digits[rest[rest.index("角") - 1]] if "角" in rest else 0) == jiao
    assert (digits[rest[rest.index("分") - 1]] if "分" in rest else 0) == cents


@given(st.integers(0, 10 ** 12 - 1))
def test_number_words_shape(n: int) -> None:
    words = number_words(n)
    assert "零零" not in words and not words.endswith("零") or words == "零"
    assert not words.startswith("一十")
    assert "两" not in words[1:]  # 两 only as the first character


def product(**changes: object) -> Product:
    data = {"name": "示例鑫禧增额终身寿险", "kind": "life", "returns": "fixed",
            "premium_yuan": "50000", "frequency": "annual", "payment_years": 5,
            "insurance_period": {"lifetime": True}, "cooling_off_days": 15}
    data.update(changes)
    return Product.from_dict(data)


def test_product_facts_fill_every_field() -> None:
    facts = product_facts("示例人寿保险股份有限公司", product())
    assert set(facts) == set(FIELDS)
    assert facts["premium"] == "五万元" and facts["premium_period"] == "每年"
    assert facts["payment"] == "年交，交费五年" and facts["coverage"] == "保至终身"
    assert facts["cooling_off_days"] == "十五天" and facts["product_kind"] == "人寿保险"
    single = product_facts("甲", product(frequency="single", payment_years=1,
                                         premium_yuan="200000", insurance_period={"years": 10}))
    assert single["payment"] == "趸交" and single["premium_period"] == "一次性"
    assert single["insurance_period"] == "十年"


def test_render_prompt() -> None:
    facts = product_facts("示例人寿保险股份有限公司", product())
    template = ("本产品由{insurer}承保，名称为{product}；保险费{premium_period}{premium}，"
                "{payment}；保险期间为{insurance_period}；犹豫期为{cooling_off_days}。{{示例}}")
    assert render_prompt(template, facts) == (
        "本产品由示例人寿保险股份有限公司承保，名称为示例鑫禧增额终身寿险；保险费每年五万元，"
        "年交，交费五年；保险期间为终身；犹豫期为十五天。{示例}")
    assert template_fields(template) == ["insurer", "product", "premium_period", "premium",
                                         "payment", "insurance_period", "cooling_off_days"]
    # names as written, braces in a fact inserted as they are
    assert render_prompt("{insurer}", {"insurer": "A{product}B（中国）"}) == "A{product}B（中国）"


@pytest.mark.parametrize("template, field", [
    ("保费{premiun}", "premiun"),        # a misspelt field
    ("{ insurer }", " insurer "),
    ("{insurer.__class__}", "insurer.__class__"),
    ("{premium:>10}", "premium:>10"),
])
def test_unknown_fields_are_named(template: str, field: str) -> None:
    with pytest.raises(PromptFieldError) as caught:
        render_prompt(template, product_facts("甲", product()))
    assert caught.value.field == field and field in str(caught.value)


def test_missing_facts_and_stray_braces() -> None:
    with pytest.raises(PromptFieldError, match=r"\{premium\}: is used by the template"):
        render_prompt("{insurer}{premium}", {"insurer": "甲"})
    for template in ("保费 } 元", "保费 { 元", "{insurer"):
        with pytest.raises(PromptFieldError, match="lone"):
            render_prompt(template, {"insurer": "甲"})
