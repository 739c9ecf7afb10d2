"""The policy's facts in spoken Mandarin, and prompts rendered from templates with them.

Numbers are written in characters, the way an announcer reads them, so the voice never has
to guess (12000 → 一万二千元, 10 年 → 十年, 至八十八周岁, 保至终身):

- 零 once for each run of missing places, also across 万 and 亿 groups (1005 一千零五,
  10050 一万零五十, 100005000 一亿零五千);
- a number starting 10-19 drops its 一 (十五, 十万, 十五万), inside it keeps it (一百一十,
  十万零一十);
- 两 for a leading 2 before 千, 万 or 亿 (两千, 两万二千, 两亿) and for the number 2 before
  a measure word (两年, 两天, 两元, 两角); 二 everywhere else (二十, 二百, 一万二千, 十二年).

cn2an (the digits-to-Chinese library misaki's G2P uses) is not used to write numbers:
0.5.24's ``an2cn`` drops the 零 after a group of four zeros (100005000 → 一亿五千, which a
listener hears as 150,000,000) and never says 两; its ``rmb`` mode writes the financial
capitals (壹万贰仟元整) of cheques, not speech. It is the reference parser in the tests:
everything written here reads back to the same number through ``cn2an.cn2an``.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Mapping

from firmware.errors import DualrecError
from firmware.ticket.product import LIFETIME, TO_AGE, YEARS, InsurancePeriod, Product

_DIGITS = "零一二三四五六七八九"
_PLACES = ((1000, "千"), (100, "百"), (10, "十"), (1, ""))
_GROUPS = ("", "万", "亿")
NUMBER_MAX = 10 ** 12 - 1   # 九千九百九十九亿…
FREQUENCY_WORDS = {"annual": "年交", "semiannual": "半年交", "quarterly": "季交",
                   "monthly": "月交", "single": "趸交"}
PREMIUM_PERIOD_WORDS = {"annual": "每年", "semiannual": "每半年", "quarterly": "每季度",
                        "monthly": "每月", "single": "一次性"}
RETURNS_WORDS = {"fixed": "保证利益", "uncertain": "利益不确定"}

#: The named fields a prompt template may use, and what each is.
FIELDS = {
    "insurer": "the insurer's name as written (示例人寿保险股份有限公司)",
    "product": "the product's name as written",
    "product_kind": "the product's kind in Chinese (人寿保险, 分红型保险, …)",
    "premium": "the premium of one payment (五万元)",
    "premium_period": "how often it is paid, as said before the amount (每年, 每月, 一次性)",
    "frequency": "the payment frequency (年交, 月交, 趸交, …)",
    "payment_years": "the payment period (五年; 一年 for 趸交)",
    "payment": "frequency and period together (年交，交费五年 / 趸交)",
    "insurance_period": "the insurance period (十年, 至八十八周岁, 终身)",
    "coverage": "the insurance period as a phrase (保十年, 保至八十八周岁, 保至终身)",
    "cooling_off_days": "the cooling-off period (十五天)",
}
_FIELD = re.compile(r"\{([^{}]*)\}")


class PromptFieldError(DualrecError, ValueError):
    """A prompt template names a field that is unknown, or that the facts do not give."""

    def __init__(self, field: str, why: str) -> None:
        self.field = field
        super().__init__(f"prompt field {{{field}}}: {why}" if field else f"prompt: {why}")


def _whole(value: Any, what: str, maximum: int = NUMBER_MAX) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise ValueError(f"{what}: need a whole number from 0 to {maximum}, got {value!r}")
    return value


def _group_words(n: int) -> str:
    """1 to 9999 in characters, 零 for each run of missing places inside it."""
    out: list[str] = []
    gap = False
    for place, unit in _PLACES:
        digit = n // place % 10
        if digit == 0:
            gap = gap or bool(out)
            continue
        if gap:
            out.append("零")
            gap = False
        out.append(_DIGITS[digit] + unit)
    return "".join(out)


def number_words(n: int) -> str:
    """``n`` (0 to 999,999,999,999) in characters as read aloud (see the module's rules;
    a bare 2 is 二 here: use :func:`quantity_words` before a measure word)."""
    _whole(n, "number")
    if n == 0:
        return "零"
    groups = [n // 10 ** (4 * i) % 10 ** 4 for i in range(len(_GROUPS))]
    out = ""
    gap = False
    for i in reversed(range(len(_GROUPS))):
        group = groups[i]
        if group == 0:
            gap = gap or bool(out)
            continue
        if out and (gap or group < 1000):
            out += "零"
        out += _group_words(group) + _GROUPS[i]
        gap = False
    if out.startswith("一十"):
        out = out[1:]
    if out[:2] in ("二千", "二万", "二亿"):
        out = "两" + out[1:]
    return out


def quantity_words(n: int) -> str:
    """``n`` before a measure word: as :func:`number_words`, but 2 is 两 (两年, 两天)."""
    return "两" if _whole(n, "quantity") == 2 else number_words(n)


def money_words(yuan: Decimal | int | str) -> str:
    """An amount of yuan (0 to 999,999,999,999.99, at most two decimals) as spoken:
    12000 → 一万二千元, 12345.6 → 一万二千三百四十五元六角, 12.05 → 十二元零五分,
    0.5 → 五角, 0 → 零元."""
    if isinstance(yuan, bool) or not isinstance(yuan, (Decimal, int, str)):
        raise ValueError(f"money: need a Decimal, int or text amount, got {yuan!r}")
    amount = Decimal(yuan)
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"money: need an amount of yuan with at most two decimals, got {yuan!r}")
    fen_total = int(amount * 100)
    whole, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    _whole(whole, "money")
    out = quantity_words(whole) + "元" if whole else ""
    if jiao:
        out += quantity_words(jiao) + "角"
    if fen:
        out += ("零" if whole and not jiao else "") + quantity_words(fen) + "分"
    return out or "零元"


def years_words(n: int) -> str:
    """10 → 十年, 2 → 两年."""
    return quantity_words(n) + "年"


def days_words(n: int) -> str:
    """15 → 十五天."""
    return quantity_words(n) + "天"


def age_words(n: int) -> str:
    """88 → 八十八周岁 (2 → 两周岁)."""
    return quantity_words(n) + "周岁"


def insurance_period_words(period: InsurancePeriod) -> str:
    """十年 / 至八十八周岁 / 终身."""
    if period.kind == YEARS:
        return years_words(int(period.value or 0))
    if period.kind == TO_AGE:
        return "至" + age_words(int(period.value or 0))
    if period.kind == LIFETIME:
        return "终身"
    raise ValueError(f"unknown insurance period kind {period.kind!r}")


def coverage_words(period: InsurancePeriod) -> str:
    """保十年 / 保至八十八周岁 / 保至终身."""
    words = insurance_period_words(period)
    return "保" + ("至终身" if period.kind == LIFETIME else words)


def frequency_words(frequency: str) -> str:
    """annual → 年交, monthly → 月交, single → 趸交 (also semiannual 半年交, quarterly 季交)."""
    try:
        return FREQUENCY_WORDS[frequency]
    except KeyError:
        raise ValueError(f"unknown payment frequency {frequency!r}; one of "
                         f"{', '.join(FREQUENCY_WORDS)}") from None


def payment_words(frequency: str, payment_years: int) -> str:
    """年交，交费五年 — or 趸交 for a single premium."""
    words = frequency_words(frequency)
    return words if frequency == "single" else f"{words}，交费{years_words(payment_years)}"


def product_facts(insurer: str, product: Product) -> dict[str, str]:
    """Every field of :data:`FIELDS` for ``product`` sold by ``insurer``."""
    return {
        "insurer": insurer,
        "product": product.name,
        "product_kind": product.kind_label,
        "premium": money_words(product.premium_yuan),
        "premium_period": PREMIUM_PERIOD_WORDS[product.frequency],
        "frequency": frequency_words(product.frequency),
        "payment_years": years_words(product.payment_years),
        "payment": payment_words(product.frequency, product.payment_years),
        "insurance_period": insurance_period_words(product.insurance_period),
        "coverage": coverage_words(product.insurance_period),
        "cooling_off_days": days_words(product.cooling_off_days),
    }


def template_fields(template_text: str) -> list[str]:
    """The field names ``template_text`` uses, in order (``{{`` and ``}}`` are literal
    braces); :class:`PromptFieldError` for one not in :data:`FIELDS` or a stray brace."""
    names = []
    for name in _FIELD.findall(template_text.replace("{{", "").replace("}}", "")):
        if name not in FIELDS:
            raise PromptFieldError(name, f"is not a known field; the fields are: "
                                   f"{', '.join(FIELDS)}")
        names.append(name)
    if re.search(r"[{}]", _FIELD.sub("", template_text.replace("{{", "").replace("}}", ""))):
        raise PromptFieldError("", "a lone { or } (write {{ or }} for a brace)")
    return names


def render_prompt(template_text: str, facts: Mapping[str, str]) -> str:
    """``template_text`` with each ``{field}`` replaced by ``facts[field]`` (one pass: a fact
    that holds braces is inserted as it is). An unknown field, or one ``facts`` does not
    give, is a :class:`PromptFieldError` naming it."""
    template_fields(template_text)
    for name in sorted(set(_FIELD.findall(template_text.replace("{{", "").replace("}}", "")))):
        if not isinstance(facts.get(name), str):
            raise PromptFieldError(name, "is used by the template but the facts do not give it")
    pieces = re.split(r"(\{\{|\}\}|\{[^{}]*\})", template_text)
    out = []
    for piece in pieces:
        if piece == "{{":
            out.append("{")
        elif piece == "}}":
            out.append("}")
        elif piece.startswith("{") and piece.endswith("}") and len(piece) >= 2:
            out.append(facts[piece[1:-1]])
        else:
            out.append(piece)
    return "".join(out)
