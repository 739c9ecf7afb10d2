"""How soon is a remote party's answer understood when the customer at the counter answers at
the same moment (issue 17; the 1 s budget of issue 14)? The answers' part (``AnswerPart``, with
the real understanding workers and Whisper-base) hears "我同意" from the counter's microphone
(16 kHz) and from a remote party's call (48 kHz) fed block by block in real time, both starting
together; the latency is from the end of each voice (``voice_end_ns``) to its meaning decided
(``decided_ns``), as the EVENT ``answer`` records them.

Baseline: the same, with one understanding worker for both (the unit before the parties got a
worker of their own): the party's answer waits behind the counter's. Figures: the median of
each over the trials, and their ratio. A Raspberry Pi 4 is about 4-6x slower per core, so there
the recognition part of each figure grows by that much (test_bench_answers gives the CPU).
"""
from __future__ import annotations

import statistics
import threading
import time
from types import SimpleNamespace

import numpy as np

from drivers.audio import AudioBlock
from firmware.unit.session.answers import AnswerPart
from firmware.unit.session.quality import NodeOutcome
from firmware.unit.understanding.service import Understanding
from kokoro_models import installed_kokoro
from spoken_lines import SpokenLines, silence
from tests.session.remote_fakes import TEMPLATE, Flow, Meeting, people
from whisper_models import installed_whisper

TRIALS = 4
BLOCK_S = 0.02
COUNTER_RATE, PARTY_RATE = 16_000, 48_000
BUDGET_MS = 1000


class WallFlow(Flow):
    """The fake session context on the real monotonic clock (the blocks are stamped with it)."""

    @property
    def now(self) -> int:
        return time.monotonic_ns()

    @now.setter
    def now(self, value: int) -> None:
        pass


def blocks(samples: np.ndarray, rate: int) -> list[bytes]:
    step = int(rate * BLOCK_S)
    return [samples[i:i + step].astype("<i2").tobytes() for i in range(0, len(samples), step)]


def to_48k(samples: np.ndarray) -> np.ndarray:
    t = np.arange(len(samples) * 3) / 3.0
    return np.interp(t, np.arange(len(samples)), samples.astype(np.float64)).astype(np.int16)


def feed(part: AnswerPart, call, counter: list[bytes], party: list[bytes]) -> None:
    """Both voices, a block each per 20 ms of wall time, stamped at their start."""
    start = time.monotonic_ns()
    for i, (c, p) in enumerate(zip(counter, party)):
        at = start + int(i * BLOCK_S * 1e9)
        delay = (at - time.monotonic_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)                          # real-time pacing, not a wait for state
        part.audio_block(AudioBlock(c, len(c) // 2, at, i * (len(c) // 2)))
        for listener in list(call.listeners):
            listener(AudioBlock(p, len(p) // 2, at, i * (len(p) // 2)))


def latencies(models, two_workers: bool, answer: np.ndarray) -> dict[str, list[float]]:
    """Per party, the ms from its voice's end to its meaning, over :data:`TRIALS` answers."""
    counter_worker = Understanding(models)
    party_worker = Understanding(models) if two_workers else None
    for worker in (counter_worker, party_worker):
        if worker is not None:
            worker.prepare()                           # warm: the session's start does it
    meeting = Meeting()
    flow = WallFlow(people(counter_customer=True), meeting)
    part = AnswerPart(counter_worker, rate=COUNTER_RATE, channels=1,
                      say=lambda node, text: None, parties_understanding=party_worker)
    node = TEMPLATE.nodes[0]
    run = NodeOutcome(node.id, node.title, node.kind, 0)
    counter_blocks = blocks(answer, COUNTER_RATE)
    party_blocks = blocks(to_48k(answer), PARTY_RATE)
    found: dict[str, list[float]] = {"counter": [], "p1": []}
    try:
        part.session_started(flow.ctx)
        call = meeting.admit("p1")
        part.node_started(flow.ctx, node, run)
        for attempt in range(1, TRIALS + 1):
            play = SimpleNamespace(playback=SimpleNamespace(ended_ns=time.monotonic_ns()))
            part.prompt_started(flow.ctx, node, run, play)
            part.prompt_ended(flow.ctx, node, run, play)
            feeder = threading.Thread(target=feed, args=(part, call, counter_blocks,
                                                         party_blocks))
            feeder.start()
            flow.run_until(lambda: len([a for a in flow.kinds("answer")
                                        if a["attempt"] == attempt]) == 2,
                           f"both answers of attempt {attempt}", timeout=60)
            feeder.join()
            for a in flow.kinds("answer"):
                if a["attempt"] == attempt:
                    assert a["meaning"] == "affirmative", a
                    found[a["party"]].append((a["decided_ns"] - a["voice_end_ns"]) / 1e6)
    finally:
        part.close()
    return found


def test_a_remote_answer_given_with_the_counters_is_understood_as_soon(tmp_path,
                                                                        record_result):
    models = installed_kokoro()
    installed_whisper()
    with SpokenLines(models, tmp_path / "kokoro") as spoken:
        answer = np.concatenate([silence(0.3), spoken.say("我同意"), silence(1.6)])
    one = latencies(models, False, answer)
    two = latencies(models, True, answer)
    median = {k: {p: round(statistics.median(v)) for p, v in d.items()}
              for k, d in (("one_worker", one), ("two_workers", two))}
    record_result(
        "remote_answer_latency",
        trials=TRIALS, budget_ms=BUDGET_MS,
        baseline_one_worker_median_ms=median["one_worker"],
        two_workers_median_ms=median["two_workers"],
        party_ratio_to_baseline=round(median["two_workers"]["p1"]
                                      / median["one_worker"]["p1"], 2),
        slower_of_the_two_ms={"one_worker": max(median["one_worker"].values()),
                              "two_workers": max(median["two_workers"].values())},
        all_ms={"one_worker": one, "two_workers": two})
