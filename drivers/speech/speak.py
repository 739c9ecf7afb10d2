"""One text to one WAV file with the unit's voice: what ``dualrec speak TEXT --out FILE.wav``
runs, for technicians and tests."""
from __future__ import annotations

from pathlib import Path

from drivers.speech.kokoro import DEFAULT_WPM, speed_for
from drivers.speech.kokoro_assets import DEFAULT_VOICE
from drivers.speech.prompt_files import check_text, commit, scratch_path, wav_seconds
from drivers.speech.synthesizer import Rendered, Synthesizer


def speak_to_file(text: str, out_wav: Path | str, *, model_dir: Path | str,
                  voice: str = DEFAULT_VOICE,
                  words_per_minute: int = DEFAULT_WPM) -> Rendered:
    """Synthesise ``text`` into ``out_wav`` (24 kHz mono 16-bit PCM; written atomically,
    replacing a file of that name) with a worker process that is stopped before returning.

    Returns what the worker reported (duration, synthesis time, phonemes, peak RSS). Raises
    BadDriverArgument for a bad text, voice or pace, DeviceMissingError naming the file or
    package when the voice cannot load.
    """
    check_text(text)
    speed = speed_for(words_per_minute, voice)
    out = Path(out_wav)
    with Synthesizer(model_dir, voice, idle_s=5.0) as synthesizer:
        tmp = scratch_path(out.parent)
        try:
            rendered = synthesizer.synthesize(text, speed, tmp)
            wav_seconds(tmp)
            commit(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    return rendered
