"""What happens at the counter in each ``dualrec demo --scenario``: what the customer answers
(each time the unit asks), what the salesperson says beyond the script, which ID card is shown,
and whether the customer walks away for a while.

The people at the counter speak with voices of their own (Kokoro's other Mandarin voices, not
the unit's), mixed into the simulated microphone as a real room would carry them; the camera
shows two people (the simulated camera's ``two_people`` scene), the ID card and the 投保单
when they are asked for.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: the customer's and the salesperson's voices (the unit speaks with [speech] voice)
CUSTOMER_VOICE = "zf_xiaoyi"
SALESPERSON_VOICE = "zm_yunxi"

#: what a salesperson says to explain before asking again
EXPLAIN = "我再给您解释一下：录音录像是监管要求，只用来保存这次销售的过程，您的信息会被妥善保管。"
CLARIFY = "我再说明一下：这是保险产品，不是存款，犹豫期内可以全额退保。您清楚了吗？"

#: a valid ID number that is not the sale's customer's
OTHER_NUMBER = "110101199003074514"


@dataclass(frozen=True)
class Scenario:
    """``answers``: by node kind, what the customer says the first, second … time the node
    asks (the last one repeats); ``says``: by node kind, what the salesperson says once the
    node's prompt has ended; ``card_number``: the number on the ID card shown (None: the
    sale's customer's card);
    ``away_s``: at the first statement node, the customer leaves the frame this long."""

    name: str
    summary: str
    answers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    says: dict[str, str] = field(default_factory=dict)
    card_number: str | None = None
    away_s: float = 0.0

    def answer(self, kind: str, attempt: int, prompt: str) -> str:
        """What the customer says at a node of ``kind`` when asked the ``attempt``-th time
        (1-based): the scenario's line; where the scenario's lines end, yes in the words the
        ``prompt`` asks for (``…请回答：同意。``)."""
        lines = self.answers.get(kind, ())
        return lines[attempt - 1] if attempt <= len(lines) else asked_for(prompt)

    def explanation(self, kind: str) -> str:
        return EXPLAIN if kind == "consent" else CLARIFY


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("happy", "every answer heard and affirmative; verdict pass"),
    Scenario("refuses-consent", "the customer says 不同意 at consent: NEXT refused "
             "answer_negative; the salesperson explains and presses REPLAY; 同意",
             answers={"consent": ("不同意",)}),
    Scenario("unclear-answer", "我再想想 at the confirmation: answer_unclear; explained, "
             "asked again, 我愿意", answers={"question": ("我再想想",)}),
    Scenario("misleading", "the salesperson says 这个产品保本保息，比存款利息高: "
             "misleading_statement, verdict review",
             says={"statement": "这个产品保本保息，比存款利息高。"}),
    Scenario("wrong-id", "the ID card shown carries another number than the ticket: "
             "id_mismatch", card_number=OTHER_NUMBER),
    Scenario("walks-away", "the customer leaves the frame for 10 s: person_missing",
             away_s=10.0),
)}


def asked_for(prompt: str) -> str:
    """The answer a prompt asks for: the words after its last ``回答：`` (``同意`` if none)."""
    _, found, rest = prompt.rpartition("回答：")
    return rest.strip().rstrip("。.") if found and rest.strip() else "同意"


def lines_of(scenario: Scenario, asked: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Every line spoken at the counter in ``scenario`` for a script whose answer nodes are
    ``asked`` (kind, prompt), by voice: rendered ahead so that nobody waits for the voice."""
    customer, salesperson = set(), set(scenario.says.values())
    for kind, prompt in asked:
        lines = scenario.answers.get(kind, ())
        customer.update(lines)
        customer.add(asked_for(prompt))
        if lines:
            salesperson.add(scenario.explanation(kind))
    return {CUSTOMER_VOICE: sorted(customer), SALESPERSON_VOICE: sorted(salesperson)}
