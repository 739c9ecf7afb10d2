"""The unit's voice: Kokoro-82M synthesis speed and memory, against baselines from the same run.

Four shipped prompts (the shortest, two typical, the longest) are rendered by
:class:`KokoroSpeech` in the default voice at the standard templates' pace (300 syllables a
minute), with a fresh worker (its load counted
separately). Figures:

* real-time factor = synthesis time / duration of the audio: the baseline is real time, i.e.
  playing the same WAVs (< 1: a prompt renders faster than it plays). A Raspberry Pi 4 is
  about 3-4x slower per core than this machine: multiply for the estimate.
* the worker's peak RSS (what a unit must have free while prompts render; it goes back when
  the worker exits) against the daemon's budget of 150 MB, and the growth of this process's
  RSS (the daemon's side: should stay near 0).
* espeak-ng (the voice it replaces) rendering the same texts: time ratio, when installed.

The intelligibility of the prompts (Whisper transcribing them back) is benchmarked with the
recogniser, not here.
"""
from __future__ import annotations

import resource
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

from drivers.speech import KokoroSpeech, Synthesizer
from kokoro_models import installed_kokoro

SCRIPTS = Path(__file__).resolve().parents[2] / "config" / "scripts"
DAEMON_BUDGET_MB = 150


def sample_prompts() -> list[str]:
    prompts: list[str] = []
    for path in sorted(SCRIPTS.glob("*.toml")):
        for node in tomllib.loads(path.read_text(encoding="utf-8"))["node"]:
            if node["prompt"] not in prompts:
                prompts.append(node["prompt"])
    by_length = sorted(prompts, key=len)
    middle = len(by_length) // 2
    return [by_length[0], by_length[middle], by_length[middle + 1], by_length[-1]]


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def espeak_seconds(texts: list[str], out: Path) -> float | None:
    program = shutil.which("espeak-ng")
    if program is None:
        return None
    began = time.monotonic()
    for number, text in enumerate(texts):
        subprocess.run([program, "-v", "cmn", "-s", "175", "-w", str(out / f"{number}.wav"),
                        "--", text], check=True, capture_output=True, timeout=120)
    return time.monotonic() - began


def test_bench_voice(tmp_path, record_result):
    model_dir = installed_kokoro()
    texts = sample_prompts()
    characters = sum(len(t) for t in texts)
    (tmp_path / "espeak").mkdir()
    espeak_s = espeak_seconds(texts, tmp_path / "espeak")

    before = rss_mb()
    with Synthesizer(model_dir, idle_s=60) as synth:                 # the default voice
        began = time.monotonic()
        synth.prepare()
        load_s = time.monotonic() - began
        speech = KokoroSpeech(tmp_path / "cache", synth, words_per_minute=300)
        began = time.monotonic()
        speech.render_many(texts)
        render_s = time.monotonic() - began
        peak_mb = synth.peak_rss_kb / 1024
        released = synth.worker_pid is None
    grown = rss_mb() - before

    rtf = render_s / speech.audio_s
    figures = {
        "prompts": len(texts), "characters": characters,
        "audio_s": round(speech.audio_s, 1), "render_s": round(render_s, 1),
        "real_time_factor": round(rtf, 2), "pi4_estimate_rtf": f"{rtf * 3:.1f}-{rtf * 4:.1f}",
        "worker_load_s": round(load_s, 1),
        "worker_peak_rss_mb": round(peak_mb), "worker_peak_vs_daemon_budget":
            round(peak_mb / DAEMON_BUDGET_MB, 1),
        "caller_rss_growth_mb": round(grown, 1), "worker_released": released,
    }
    if espeak_s is not None:
        figures["espeak_ng_s"] = round(espeak_s, 2)
        figures["kokoro_vs_espeak_time"] = round(render_s / espeak_s, 1)
    record_result("voice", **figures)
    assert released and speech.renders == len(texts)
