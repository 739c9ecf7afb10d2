"""Are customers' answers understood, and how soon? A set of answers (yes, no and hesitant
ones) spoken by every shipped Mandarin Kokoro voice is transcribed by the recogniser (warm
worker) and classified with the shipped word lists (``config/understanding/answers.toml``).

* accuracy: the meaning heard equals the meaning of the written answer; a "false yes" (a no
  or an unclear answer heard as affirmative: the error that matters) is counted apart.
  Baseline: the same transcripts matched character by character against the same lists
  (no pinyin), which misses the recogniser's homophones.
* latency: from handing over the answer's audio (the answer has ended) to its meaning, wall
  clock, worker warm. Budget ≤ 1 s here. Baseline: faster-whisper as shipped (every window
  encoded as 30 s) called in this process with the same other options on the same clips: the
  difference is the worker boundary (a cost) and the shortened encoder window (a saving);
  its accuracy is reported too.
  Also the worker's CPU time per answer: a Raspberry Pi 4 is about 4-6x slower per core than
  this machine, so its latency is about that multiple of the CPU figure split over the
  threads used (2 here; a Pi 4 has 4 cores).
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from drivers.speech import whisper_assets
from drivers.speech.kokoro_assets import VOICES
from drivers.speech.recognizer import Recognizer, RecognitionOptions
from firmware.unit.understanding.answers import AnswerWords, Meaning, classify_answer
from kokoro_models import installed_kokoro
from spoken_lines import SpokenLines
from whisper_models import installed_whisper

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "understanding" / "answers.toml"
ANSWERS = ["同意", "我同意", "不同意", "我不同意", "是", "是的", "不是", "对", "清楚", "不清楚",
           "明白", "我不明白", "了解", "好的", "可以", "不可以", "愿意", "不愿意", "我不要",
           "我再想想", "让我考虑一下", "没问题"]
BUDGET_S = 1.0
PI4_SLOWER = (4, 6)


def literal_meaning(text: str, words: AnswerWords) -> Meaning:
    """The baseline: the same precedence, plain substring matching of characters."""
    if any(w in text for w in words.negative):
        return Meaning.NEGATIVE
    if any(w in text for w in words.hesitant):
        return Meaning.UNCLEAR
    return Meaning.AFFIRMATIVE if any(w in text for w in words.affirmative) else \
        Meaning.UNCLEAR


def in_process(model, audio: np.ndarray, options: RecognitionOptions) -> tuple[str, float]:
    """(text, seconds) from faster-whisper as shipped, in this process."""
    began = time.monotonic()
    segments, _ = model.transcribe(
        audio.astype(np.float32) / 32768.0, language="zh", beam_size=options.beam_size,
        initial_prompt=options.initial_prompt, vad_filter=options.vad,
        temperature=list(options.temperatures), condition_on_previous_text=False)
    text = "".join(s.text for s in segments)
    return text, time.monotonic() - began


def test_answers_by_every_voice_are_understood_within_a_second(tmp_path, record_result):
    models = installed_kokoro()
    installed_whisper()
    words = AnswerWords.from_toml(SHIPPED)
    expected = {answer: classify_answer(answer, words).meaning for answer in ANSWERS}
    clips = []
    with SpokenLines(models, tmp_path / "kokoro") as spoken:
        for voice in sorted(VOICES):
            clips += [(voice, answer, spoken.say(answer, voice)) for answer in ANSWERS]

    rows = []
    with Recognizer(models, idle_s=600) as recognizer:
        recognizer.prepare()
        for voice, answer, audio in clips:
            began = time.monotonic()
            heard = recognizer.transcribe(audio)
            meaning = classify_answer(heard.text, words).meaning
            latency = time.monotonic() - began
            rows.append({"voice": voice, "answer": answer, "heard": heard.text,
                         "meaning": meaning, "literal": literal_meaning(heard.text, words),
                         "latency_s": latency, "cpu_s": heard.cpu_s, "audio_s": heard.audio_s})

    os.environ["HF_HUB_OFFLINE"] = "1"
    from faster_whisper import WhisperModel
    model = WhisperModel(str(whisper_assets.home(models)), device="cpu", compute_type="int8",
                         cpu_threads=2)
    baseline = [in_process(model, audio, RecognitionOptions()) for _, _, audio in clips]
    baseline_right = sum(classify_answer(text, words).meaning is expected[answer]
                         for (_, answer, _), (text, _) in zip(clips, baseline))
    baseline_s = [seconds for _, seconds in baseline]

    wrong = [r for r in rows if r["meaning"] is not expected[r["answer"]]]
    false_yes = [r for r in wrong if r["meaning"] is Meaning.AFFIRMATIVE]
    literal_right = sum(r["literal"] is expected[r["answer"]] for r in rows)
    latencies = sorted(r["latency_s"] for r in rows)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    cpu = statistics.median(r["cpu_s"] for r in rows)
    print()
    for r in wrong:
        print(f"  {r['voice']:12} said {r['answer']:8} heard {r['heard']!r:16} → "
              f"{r['meaning'].value} (expected {expected[r['answer']].value})")
    by_voice = {voice: sum(r["meaning"] is expected[r["answer"]] for r in rows
                           if r["voice"] == voice) / len(ANSWERS) for voice in sorted(VOICES)}
    record_result(
        "speech_answers",
        answers=len(rows), voices=len(VOICES),
        accuracy=round(1 - len(wrong) / len(rows), 3),
        false_yes=len(false_yes),
        baseline_literal_accuracy=round(literal_right / len(rows), 3),
        accuracy_by_voice={v: round(a, 3) for v, a in by_voice.items()},
        latency_median_s=round(statistics.median(latencies), 3),
        latency_p95_s=round(p95, 3), latency_max_s=round(latencies[-1], 3),
        budget_s=BUDGET_S,
        baseline_stock_median_s=round(statistics.median(baseline_s), 3),
        baseline_stock_accuracy=round(baseline_right / len(rows), 3),
        latency_ratio_to_stock=round(statistics.median(latencies)
                                     / statistics.median(baseline_s), 2),
        cpu_s_median=round(cpu, 3),
        pi4_latency_estimate_s=[round(cpu * k / 2, 2) for k in PI4_SLOWER])
    assert not false_yes, [(r["voice"], r["answer"], r["heard"]) for r in false_yes]
