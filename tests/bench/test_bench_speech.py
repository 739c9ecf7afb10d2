"""Are the shipped prompts intelligible? Every node prompt of every shipped template
(``config/scripts/*.toml``; fields such as ``{premium}`` filled from the sample ticket spec) is
spoken by the unit's Kokoro voice at the template's pace, transcribed back by the recogniser
(Whisper-base in its worker), and scored by the toneless pinyin syllable error rate (SER).

Target: SER ≤ 5 % for every prompt. Baseline, measured in the same run: the same prompts
spoken by espeak-ng's ``cmn`` voice (the voice Kokoro replaces), when espeak-ng is installed.
Also reported: recognition real-time factor (wall time / audio time, worker warm) and the
worker's CPU time per audio second, which does not depend on how busy this shared machine is.
"""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import wave
from pathlib import Path

import numpy as np

from drivers.speech.kokoro_assets import DEFAULT_VOICE
from drivers.speech.pcm import pcm16k
from drivers.speech.recognizer import Recognizer
from firmware.unit.session.script import load_templates
from firmware.unit.understanding.pinyin import syllable_error_rate
from kokoro_models import installed_kokoro
from spoken_lines import SpokenLines
from whisper_models import installed_whisper

REPO = Path(__file__).resolve().parents[2]
TICKET_SPEC = REPO / "firmware" / "samples" / "ticket-spec.json"
TARGET_SER = 0.05


def shipped_prompts() -> list[tuple[str, str, int]]:
    """(where, prompt text as spoken, pace) for each distinct prompt of the shipped templates."""
    facts = _sample_facts()
    seen: dict[str, tuple[str, str, int]] = {}
    for template_id, template in sorted(load_templates().items()):
        for node in template.nodes:
            text = _filled(node.prompt, facts)
            if text.strip() and text not in seen:
                seen[text] = (f"{template_id}/{node.id}", text, template.words_per_minute)
    return list(seen.values())


def _sample_facts() -> dict[str, str] | None:
    try:
        from firmware.unit.session.wording import product_facts
        from firmware.ticket.product import Product
    except ImportError:                      # templates without fields need none
        return None
    spec = json.loads(TICKET_SPEC.read_text(encoding="utf-8"))
    return product_facts(spec["insurer"], Product.from_dict(spec["product"]))


def _filled(prompt: str, facts: dict[str, str] | None) -> str:
    if "{" not in prompt:
        return prompt
    from firmware.unit.session.wording import render_prompt
    assert facts is not None, f"prompt with fields but no wording module: {prompt}"
    return render_prompt(prompt, facts)


def espeak_pcm(text: str, out: Path) -> np.ndarray | None:
    program = shutil.which("espeak-ng")
    if program is None:
        return None
    subprocess.run([program, "-v", "cmn", "-w", str(out), "--", text], check=True,
                   capture_output=True, timeout=120)
    with wave.open(str(out), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return pcm16k(samples, wav.getframerate())


def test_every_shipped_prompt_is_understood_back(tmp_path, record_result):
    models = installed_kokoro()
    installed_whisper()
    prompts = shipped_prompts()
    rows = []
    with SpokenLines(models, tmp_path / "kokoro") as spoken, \
            Recognizer(models, idle_s=600, max_seconds=300, timeout_s=300) as recognizer:
        recognizer.prepare()
        for where, text, pace in prompts:
            audio = spoken.say(text, DEFAULT_VOICE, pace)
            heard = recognizer.transcribe(audio)
            baseline = espeak_pcm(text, tmp_path / "espeak.wav")
            espeak_ser = None
            if baseline is not None:
                espeak_ser = syllable_error_rate(text, recognizer.transcribe(baseline).text)
            rows.append({"where": where, "ser": syllable_error_rate(text, heard.text),
                         "espeak_ser": espeak_ser, "audio_s": heard.audio_s,
                         "wall_s": heard.wall_s, "cpu_s": heard.cpu_s, "heard": heard.text,
                         "said": text})
    print()
    for row in rows:
        flag = "ok " if row["ser"] <= TARGET_SER else "OVER"
        espeak = "-" if row["espeak_ser"] is None else f"{row['espeak_ser']:.2f}"
        print(f"  {flag} SER {row['ser']:.3f} (espeak-ng {espeak})  {row['audio_s']:5.1f} s "
              f"audio, RTF {row['wall_s'] / row['audio_s']:.2f}  {row['where']}")
        if row["ser"] > 0:
            print(f"       said:  {row['said']}\n       heard: {row['heard']}")
    audio_s = sum(r["audio_s"] for r in rows)
    espeak = [r["espeak_ser"] for r in rows if r["espeak_ser"] is not None]
    worst = max(r["ser"] for r in rows)
    record_result(
        "speech_prompts_intelligibility",
        prompts=len(rows), worst_ser=round(worst, 3),
        mean_ser=round(statistics.fmean(r["ser"] for r in rows), 3),
        over_target=[r["where"] for r in rows if r["ser"] > TARGET_SER],
        baseline_espeak_mean_ser=round(statistics.fmean(espeak), 2) if espeak else None,
        recognition_rtf=round(sum(r["wall_s"] for r in rows) / audio_s, 3),
        recognition_cpu_s_per_audio_s=round(sum(r["cpu_s"] for r in rows) / audio_s, 3),
        per_prompt={r["where"]: round(r["ser"], 3) for r in rows})
    assert worst <= TARGET_SER, [r["where"] for r in rows if r["ser"] > TARGET_SER]
