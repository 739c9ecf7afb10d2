"""The answer window's own rules, block by block (no recogniser): when the customer's speech is
handed over, when the answer is taken as ended, how long a window may grow; and a recogniser
that cannot load never lets an answer pass."""
from __future__ import annotations

import queue
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from drivers.errors import DeviceMissingError
from firmware.unit.session.answer_source import AnswerWindow as _Window
from firmware.unit.session.answers import EXTEND_NS, HANGOVER_NS, PAUSE_NS, AnswerPart
from firmware.unit.session.parts import SessionContext
from firmware.unit.session.quality import NodeOutcome
from firmware.unit.session.script import load_template
from firmware.unit.understanding.service import Understanding

RATE, BLOCK = 16_000, 320                   # 20 ms blocks
BLOCK_NS = BLOCK * 1_000_000_000 // RATE
LOUD = (np.sin(np.arange(BLOCK) / 3) * 8000).astype("<i2").tobytes()
QUIET = np.zeros(BLOCK, dtype="<i2").tobytes()


def _window(deadline_s: float = 3.0) -> _Window:
    return _Window("consent", 1, 0, int(deadline_s * 1e9), RATE, 1, -42.0)


def _feed(window: _Window, pattern: str, start_block: int = 0):
    """Feed blocks ('x' loud, '.' quiet); every (block index, job, promoted) that happened."""
    events = []
    for i, c in enumerate(pattern, start=start_block):
        job, promoted = window.take(i * BLOCK_NS, BLOCK, LOUD if c == "x" else QUIET)
        if job is not None or promoted:
            events.append((i, job, promoted))
    return events


def test_a_pause_hands_the_answer_over_and_the_silence_after_it_ends_it():
    w = _window()
    events = _feed(w, "." * 10 + "x" * 30 + "." * 60)
    pause_blocks, hangover_blocks = PAUSE_NS // BLOCK_NS, HANGOVER_NS // BLOCK_NS
    (at, job, promoted), (end_at, final, made) = events
    assert at == 40 + pause_blocks - 1 and not job.final and not promoted
    assert len(job.pcm) == (at + 1) * BLOCK * 2             # everything since the window opened
    assert end_at == 40 + hangover_blocks - 1 and final is None and made   # that job is it
    assert w.final_seq == job.seq and w.closed


def test_more_speech_after_a_pause_makes_a_new_candidate():
    w = _window()
    events = _feed(w, "x" * 20 + "." * 15 + "x" * 20 + "." * 50)
    jobs = [job for _, job, _ in events if job is not None]
    assert len(jobs) == 2 and w.final_seq == jobs[1].seq
    assert len(jobs[1].pcm) > len(jobs[0].pcm)


def test_silence_ends_at_the_deadline_and_speech_may_run_past_it_but_not_for_ever():
    silent = _window(1.0)
    [(at, job, _)] = _feed(silent, "." * 100)
    assert job.final and (at + 1) * BLOCK_NS >= 1_000_000_000 and at * BLOCK_NS < 1_000_000_000
    talker = _window(1.0)
    [(at, job, _)] = _feed(talker, "x" * 400)
    assert job.final and (at + 1) * BLOCK_NS == 1_000_000_000 + EXTEND_NS


@dataclass
class _Play:
    class playback:
        ended_ns = 0


def test_an_unloadable_recogniser_refuses_every_answer(tmp_path):
    """Without its model the unit says so: a failed self-test check, and at an answer node an
    ``unclear`` answer with the reason on the chain and the fault signal — never a pass."""
    with pytest.raises(DeviceMissingError):
        Understanding(tmp_path).check()
    template = load_template(Path(__file__).parent / "scripts" / "answers-test.toml")
    node = template.nodes[0]
    events, signals, posted = [], [], queue.Queue()
    ctx = SessionContext(
        "20260101T000000Z-abcdef", binding=type("B", (), {"template": template})(),
        event=lambda kind, data: events.append((kind, data)),
        seal=lambda name, content, data: type("R", (), {"files": [
            type("F", (), {"path": f"sessions/x/{name}", "sha256": "0" * 64})()]})(),
        post=posted.put, signal=signals.append, now_ns=lambda: 9_000_000_000,
        wall_ns=lambda: 0)
    part = AnswerPart(Understanding(tmp_path), rate=RATE, channels=1,
                      say=lambda node_id, text: None)
    try:
        part.session_started(ctx)
        run = NodeOutcome(node.id, node.title, node.kind, 0)
        part.node_started(ctx, node, run)
        part.prompt_ended(ctx, node, run, _Play())
        assert part.refusal(ctx, node, run, 0) == "missing_answer"
        for i in range(int(node.answer_seconds * 1e9) // BLOCK_NS + 1):
            part.audio_block(type("Block", (), {"first_sample_ns": i * BLOCK_NS,
                                                "frames": BLOCK, "pcm": QUIET})())
        while not events:                   # the flow's thread: run what the part posted
            posted.get(timeout=120)()
        kind, data = events[0]
        assert kind == "answer" and data["meaning"] == "unclear"
        assert "recognition is unavailable" in data["error"]
        assert "fault" in signals and "refused" in signals
        assert part.refusal(ctx, node, run, 0) == "answer_unclear"
    finally:
        part.close()
