"""What the post-session speech check costs per minute of session (issue 14 §2): a session's
worth of speech (the unit's prompts in its own voice, the salesperson's lines in another, the
pauses between) goes through the check's own path — voiced pieces cut at the prompts, each
transcribed by the understanding worker — and is timed, wall and CPU, per minute of audio.

Baseline: faster-whisper as shipped transcribing the same audio in this process in one call
(30-s windows, the same decoding options): the difference is the check's piecing (it skips
silence, and cuts at prompt boundaries so that a restart resumes) and the worker boundary.
A Raspberry Pi 4 is about 4-6x slower per core than this machine: the check's CPU seconds per
minute times that is what a Pi 4 spends while idle after each minute recorded.
"""
from __future__ import annotations

import os
import time

import numpy as np

from drivers.speech import whisper_assets
from drivers.speech.recognizer import RecognitionOptions
from firmware.unit.speech_check.session_records import Span
from firmware.unit.speech_check.transcript import AudioFacts, Progress, pieces, transcribe
from firmware.unit.understanding.service import Understanding
from kokoro_models import installed_kokoro
from spoken_lines import SpokenLines, silence
from whisper_models import installed_whisper

RATE = 16_000
PI4_SLOWER = (4, 6)
UNIT = [   # what the unit says (the bank-life script with the demo sale's facts, abridged)
    "您好，根据监管要求，本次保险销售过程将进行全程录音录像，资料将被妥善保管。请问您是否同意录音录像？",
    "请销售人员介绍本人姓名和工号，并将工作证件和执业证书正面朝向镜头展示。",
    "请投保人和被保险人将有效身份证件正面朝向镜头展示。",
    "本产品由示例人寿保险股份有限公司承保，是保险产品，不是存款，也不是理财产品。犹豫期为十五天，犹豫期后退保会有损失。",
    "请问您是否已经了解上述内容，并自愿投保？",
]
SALESPERSON = [
    "您好，我是示例银行的理财经理，工号零零零一，这是我的工作证和执业证书。",
    "这份是投保提示书和产品条款，责任免除条款在第三页，请您仔细看一下。",
    "这个产品的保险责任包括身故保险金，缴费五年，保障终身。",
]


def session_audio(spoken: SpokenLines) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """About a minute and a half of a session at 16 kHz; the unit's prompts' sample ranges."""
    parts, prompts, at = [], [], 0
    for i, line in enumerate(UNIT):
        clip = spoken.say(line, "zf_xiaoxiao")
        prompts.append((at, at + len(clip)))
        parts += [clip, silence(1.5)]
        at += len(clip) + len(silence(1.5))
        if i < len(SALESPERSON):
            said = spoken.say(SALESPERSON[i], "zm_yunxi")
            parts += [said, silence(2.0)]
            at += len(said) + len(silence(2.0))
    return np.concatenate(parts), prompts


def test_speech_check_cost_per_minute(tmp_path, record_result):
    models = installed_kokoro()
    installed_whisper()
    with SpokenLines(models, tmp_path / "kokoro") as spoken:
        audio, prompt_ranges = session_audio(spoken)
    minutes = len(audio) / RATE / 60
    first = 10_000_000_000
    blocks = [(first + s * 1_000_000_000 // RATE, s, len(audio[s:s + 320]),
               audio[s:s + 320].tobytes()) for s in range(0, len(audio), 320)]
    prompts = [Span("node", first + a * 1_000_000_000 // RATE, first + b * 1_000_000_000 // RATE)
               for a, b in prompt_ranges]

    with Understanding(models) as understanding:
        understanding.prepare()
        began = time.monotonic()
        progress = Progress()
        assert transcribe(pieces(iter(blocks), prompts, RATE, AudioFacts()), progress,
                          understanding, rate=RATE, channels=1, should_pause=lambda: False,
                          save=lambda _p: None)
        wall = time.monotonic() - began
    heard = "".join(text for _start, _end, _voice, text in progress.segments)

    os.environ["HF_HUB_OFFLINE"] = "1"
    from faster_whisper import WhisperModel
    options = RecognitionOptions()
    model = WhisperModel(str(whisper_assets.home(models)), device="cpu", compute_type="int8",
                         cpu_threads=2)
    b_began, b_cpu = time.monotonic(), os.times()
    segments, _ = model.transcribe(
        audio.astype(np.float32) / 32768.0, language="zh", beam_size=options.beam_size,
        initial_prompt=options.initial_prompt, vad_filter=options.vad,
        temperature=list(options.temperatures), condition_on_previous_text=False)
    baseline_text = "".join(s.text for s in segments)
    baseline_wall = time.monotonic() - b_began
    b_used = os.times()
    baseline_cpu = (b_used.user - b_cpu.user) + (b_used.system - b_cpu.system)
    assert "不是存款" in heard or "犹豫期" in heard, heard
    assert baseline_text
    per_min_cpu = progress.cpu_s / minutes     # the recogniser worker's CPU, every thread
    record_result(
        "speech_check_per_minute",
        audio_minutes=round(minutes, 2),
        check_wall_s_per_minute=round(wall / minutes, 1),
        check_cpu_s_per_minute=round(per_min_cpu, 1),
        voiced_audio_s=round(progress.audio_s, 1),
        real_time_factor=round(wall / (minutes * 60), 3),
        baseline_stock_wall_s_per_minute=round(baseline_wall / minutes, 1),
        baseline_stock_cpu_s_per_minute=round(baseline_cpu / minutes, 1),
        ratio_to_stock=round(wall / baseline_wall, 2),
        pi4_estimate_cpu_s_per_minute=[round(per_min_cpu * k) for k in PI4_SLOWER])
