"""Remote parties at answer nodes, part by part and without models (issue 17): whose answer
NEXT waits for (the counter's customer, each connected remote party, or only the parties when
every customer is remote), each answer's own window, file and record, the notice after a no.

The recogniser is a stand-in for our own ``Understanding`` interface (what it hears is a tone
whose loudness says what was meant); the parties' calls are stand-ins for the ``Media``
protocol of the remote parties' part (tests/session/remote_fakes.py). The real models and the
real calls are in tests/meet/test_remote_understanding.py."""
from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from drivers.audio import AudioBlock
from firmware.unit.session.answer_source import (AnswerSourceError, answer_file_name,
                                                 check_source_name)
from firmware.unit.session.answers import AnswerPart
from firmware.unit.session.quality import NodeOutcome
from firmware.unit.understanding.service import Heard
from tests.session.remote_fakes import (PROMPT_END, S, TEMPLATE, Call, Flow, Meeting,
                                        people)

COUNTER_RATE, PARTY_RATE = 16_000, 48_000
YES, NO, UNSURE = 8000, 5000, 2500          # the stand-in recogniser's "words"


class ToneUnderstanding:
    """Our ``Understanding`` interface, hearing a tone's peak as a word (YES, NO, UNSURE)."""

    def __init__(self) -> None:
        self.heard: list[int] = []            # the rate of each answer heard

    def prepare(self) -> None: ...

    def release(self) -> None: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...

    def answer(self, pcm: bytes, rate: int, channels: int, lists) -> Heard:
        self.heard.append(rate)
        samples = np.frombuffer(pcm, "<i2")
        peak = int(np.abs(samples.astype(np.int32)).max()) if len(samples) else 0
        text, meaning = {YES: ("我同意", "affirmative"), NO: ("我不同意", "negative")}.get(
            peak, ("嗯", "unclear") if peak else ("", "unclear"))
        return Heard(text, ((0.5, 1.0, text),) if text else (), len(samples) / rate, 0.01,
                     0.01, 0.01, meaning, None)

def blocks(rate: int, start_ns: int, pattern: str, level: int = YES):
    """20 ms blocks from ``start_ns``: 'x' a tone of peak ``level``, '.' silence."""
    frames = rate // 50
    tone = np.round(np.sin(2 * math.pi * 440 * np.arange(frames) / rate) * level)
    tone[0] = level                           # the peak is the "word"
    for i, c in enumerate(pattern):
        pcm = (tone if c == "x" else np.zeros(frames)).astype("<i2").tobytes()
        yield AudioBlock(pcm, frames, start_ns + i * S // 50, i * frames)


SPOKEN = "." * 10 + "x" * 30 + "." * 60   # 0.2 s of quiet, 0.6 s of speech, 1.2 s of quiet


@dataclass
class Story:
    part: AnswerPart
    flow: Flow
    meeting: Meeting | None
    understanding: ToneUnderstanding
    node: object
    run: NodeOutcome

    def ask(self, at_ns: int = PROMPT_END) -> None:
        """The node's prompt has played to its end at ``at_ns``."""
        play = SimpleNamespace(playback=SimpleNamespace(ended_ns=at_ns))
        self.part.prompt_started(self.flow.ctx, self.node, self.run, play)
        self.part.prompt_ended(self.flow.ctx, self.node, self.run, play)

    def counter_says(self, level: int, start_ns: int = PROMPT_END) -> None:
        for block in blocks(COUNTER_RATE, start_ns, SPOKEN, level):
            self.part.audio_block(block)

    def party_says(self, call: Call, level: int, start_ns: int = PROMPT_END) -> None:
        for block in blocks(PARTY_RATE, start_ns, SPOKEN, level):
            for listener in list(call.listeners):
                listener(block)

    def answers(self, n: int) -> list[dict]:
        self.flow.run_until(lambda: len(self.flow.kinds("answer")) >= n, f"{n} answers")
        return self.flow.kinds("answer")

    def refusal(self) -> str | None:
        return self.part.refusal(self.flow.ctx, self.node, self.run, self.flow.now)


@pytest.fixture
def story(request):
    """An answer node of a sale with (``counter_customer``) or without a customer at the
    counter, and a meeting (``meeting``: False for none)."""
    counter_customer, with_meeting = getattr(request, "param", (True, True))
    meeting = Meeting() if with_meeting else None
    flow = Flow(people(counter_customer=counter_customer), meeting)
    understanding = ToneUnderstanding()
    part = AnswerPart(understanding, rate=COUNTER_RATE, channels=1,
                      say=lambda node, text: flow.said.append(text))
    node = TEMPLATE.nodes[0]
    run = NodeOutcome(node.id, node.title, node.kind, 0)
    part.session_started(flow.ctx)
    yield Story(part, flow, meeting, understanding, node, run)
    part.close()


def test_the_counter_and_a_remote_party_both_answer_and_each_answer_is_its_own(story):
    call = story.meeting.admit("p1")
    story.part.node_started(story.flow.ctx, story.node, story.run)
    assert len(call.listeners) == 1                     # followed from the answer node on
    story.ask()
    assert story.refusal() == "missing_answer"
    story.counter_says(YES)
    [counter] = story.answers(1)
    assert (counter["party"], counter["meaning"]) == ("counter", "affirmative")
    assert story.refusal() == "missing_answer"          # the party has not answered yet
    story.party_says(call, YES, PROMPT_END + 300_000_000)   # its audio arrives later
    remote = story.answers(2)[1]
    assert (remote["party"], remote["meaning"], remote["attempt"]) == ("p1", "affirmative", 1)
    assert story.refusal() is None
    assert remote["heard_file"] == "sessions/s1/consent-answer-p1-1.json"
    assert counter["heard_file"] == "sessions/s1/consent-answer-1.json"
    content, data = story.flow.sealed["consent-answer-p1-1.json"]
    assert json.loads(content)["party"] == "p1" and data["party"] == "p1"
    assert remote["start_ns"] == PROMPT_END and remote["voice_end_ns"] > PROMPT_END
    assert sorted(story.understanding.heard) == [COUNTER_RATE, PARTY_RATE]
    assert story.flow.signals == [] and story.flow.said == []
    story.part.node_ending(story.flow.ctx, story.node, story.run)
    assert story.node.id in story.flow.ctx.values["understood_answers"]
    story.part.session_ending(story.flow.ctx)
    assert call.listeners == []                         # unsubscribed at the session's end


def test_a_remote_no_refuses_next_and_the_notice_waits_for_the_counters_answer(story):
    call = story.meeting.admit("p1")
    story.part.node_started(story.flow.ctx, story.node, story.run)
    story.ask()
    story.party_says(call, NO)
    [remote] = story.answers(1)
    assert remote["meaning"] == "negative" and story.refusal() == "answer_negative"
    assert story.flow.said == []                        # the counter is still answering
    story.counter_says(YES)
    story.answers(2)
    assert story.refusal() == "answer_negative"
    assert story.flow.said == [story.part.notice] and story.flow.signals == ["refused"]
    story.part.replayed(story.flow.ctx, story.node, story.run)
    again = PROMPT_END + 10 * S
    story.ask(again)                                    # asked again: everyone answers again
    assert story.refusal() == "missing_answer"
    story.counter_says(YES, again)
    story.party_says(call, YES, again)
    answers = story.answers(4)
    assert {(a["party"], a["attempt"], a["meaning"]) for a in answers[2:]} == {
        ("counter", 2, "affirmative"), ("p1", 2, "affirmative")}
    assert story.refusal() is None
    assert story.flow.said == [story.part.notice]       # nothing more to tell


@pytest.mark.parametrize("story", [(False, True)], indirect=True)
def test_when_every_customer_is_remote_only_the_parties_answer(story):
    call = story.meeting.admit("p1")
    story.part.node_started(story.flow.ctx, story.node, story.run)
    story.ask()
    story.counter_says(NO)                              # the salesperson, at the counter
    story.party_says(call, YES)
    [answer] = story.answers(1)
    assert answer["party"] == "p1" and story.refusal() is None
    assert story.understanding.heard == [PARTY_RATE]    # the counter was not listened to


@pytest.mark.parametrize("story", [(False, False)], indirect=True)
def test_without_a_meeting_the_counter_still_answers(story):
    story.part.node_started(story.flow.ctx, story.node, story.run)
    story.ask()
    assert story.refusal() == "missing_answer"
    story.counter_says(YES)
    assert story.answers(1)[0]["party"] == "counter" and story.refusal() is None


def test_a_party_whose_call_is_down_is_left_to_the_remote_parties_refusal(story):
    call = story.meeting.admit("p1")
    story.part.node_started(story.flow.ctx, story.node, story.run)
    story.ask()
    story.counter_says(YES)
    story.answers(1)
    call.connected = False                              # remote_disconnected says it
    assert story.refusal() is None
    call.connected = True
    assert story.refusal() == "missing_answer"


def test_a_party_admitted_after_the_question_answers_when_asked_again(story):
    story.part.node_started(story.flow.ctx, story.node, story.run)
    story.ask()
    story.counter_says(YES)
    story.answers(1)
    assert story.refusal() is None
    call = story.meeting.admit("p2", (0,))
    assert story.refusal() == "answer_not_asked"        # only REPLAY can ask it
    story.part.tick(story.flow.ctx, story.node, PROMPT_END)
    assert len(call.listeners) == 1
    story.party_says(call, YES)                         # heard, but it was not asked
    assert story.refusal() == "answer_not_asked"
    assert story.flow.said == [] and story.flow.signals == []
    story.part.replayed(story.flow.ctx, story.node, story.run)
    again = PROMPT_END + 10 * S
    story.ask(again)
    assert story.refusal() == "missing_answer"          # asked now: its answer is awaited
    story.counter_says(YES, again)
    story.party_says(call, YES, again)
    answers = story.answers(3)
    assert {(a["party"], a["attempt"]) for a in answers[1:]} == {("counter", 2), ("p2", 2)}
    assert story.refusal() is None


@pytest.mark.parametrize("party", ["../x", "P1", "", "a" * 17, "p1/..", "p 1"])
def test_answer_files_are_named_only_by_safe_party_ids(party):
    with pytest.raises(AnswerSourceError):
        answer_file_name("consent", party, 1)
    with pytest.raises(AnswerSourceError):
        check_source_name(party)
    assert answer_file_name("consent", "p12", 3) == "consent-answer-p12-3.json"
    assert answer_file_name("consent", "counter", 3) == "consent-answer-3.json"


class HeldUnderstanding(ToneUnderstanding):
    """A recogniser that hears nothing until ``go`` is set (the counter's worker, busy)."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.started = threading.Event()

    def answer(self, pcm: bytes, rate: int, channels: int, lists) -> Heard:
        self.started.set()
        assert self.go.wait(30), "the held recogniser was never let go"
        return super().answer(pcm, rate, channels, lists)

    def abort(self) -> None:
        self.go.set()


def test_a_partys_answer_does_not_wait_behind_the_counters_on_a_worker_of_its_own():
    """With a second worker for the parties, the party's answer is decided while the counter's
    worker is still busy with the counter's answer; each worker hears only its own."""
    meeting = Meeting()
    flow = Flow(people(counter_customer=True), meeting)
    counter, parties = HeldUnderstanding(), ToneUnderstanding()
    part = AnswerPart(counter, rate=COUNTER_RATE, channels=1,
                      say=lambda node, text: flow.said.append(text),
                      parties_understanding=parties)
    node = TEMPLATE.nodes[0]
    story = Story(part, flow, meeting, counter, node, NodeOutcome(node.id, node.title,
                                                                  node.kind, 0))
    try:
        part.session_started(flow.ctx)
        call = meeting.admit("p1")
        part.node_started(flow.ctx, node, story.run)
        story.ask()
        story.counter_says(YES)
        assert counter.started.wait(30)                    # the counter's worker is busy
        story.party_says(call, YES)
        [remote] = story.answers(1)
        assert (remote["party"], remote["meaning"]) == ("p1", "affirmative")
        assert story.refusal() == "missing_answer"         # the counter's is still being heard
        counter.go.set()
        assert story.answers(2)[1]["party"] == "counter" and story.refusal() is None
        assert counter.heard == [COUNTER_RATE] and parties.heard == [PARTY_RATE]
    finally:
        counter.go.set()
        part.close()
