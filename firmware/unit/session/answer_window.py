"""The customer's answer window: at a node that requires an answer, NEXT waits until the
window after the prompt has passed (``answer_seconds``). Without speech understanding this is
all the unit can ask of an answer; :mod:`~firmware.unit.session.answers` also understands it."""
from __future__ import annotations

from firmware.unit.session.parts import SessionPart


class AnswerWindowPart(SessionPart):
    name = "answer_window"

    def refusal(self, ctx, node, run, now_ns) -> str | None:
        if "answer" in node.requires and (run.prompt_end_ns is None or now_ns < run.prompt_end_ns
                                          + node.answer_seconds * 1e9):
            return "missing_answer"
        return None
