"""Spoken prompts, rendered once to cached WAV files.

The unit's voice is Kokoro-82M speaking Mandarin (:class:`KokoroSpeech`, synthesising in a
worker process run by a :class:`Synthesizer`); recorded prompts (:class:`RecordedPrompts`)
replace synthesis for fixed wording. :class:`Speech` (espeak-ng) remains only until the
firmware is switched over: its ``cmn`` voice is not intelligible Mandarin.

Importing this package loads no speech library: onnxruntime, jieba and the model are loaded
only in the worker process.
"""
from drivers.speech.espeak import Speech
from drivers.speech.kokoro import KokoroSpeech, speed_for
from drivers.speech.kokoro_assets import DEFAULT_VOICE, VOICES
from drivers.speech.prompt_files import text_hash
from drivers.speech.recorded import RecordedPrompts
from drivers.speech.speak import speak_to_file
from drivers.speech.synthesizer import Rendered, SynthesisTimeout, Synthesizer

__all__ = ["DEFAULT_VOICE", "KokoroSpeech", "RecordedPrompts", "Rendered", "Speech",
           "SynthesisTimeout", "Synthesizer", "VOICES", "speak_to_file", "speed_for",
           "text_hash"]
