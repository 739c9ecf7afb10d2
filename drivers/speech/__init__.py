"""Spoken prompts: espeak-ng (the ``cmn`` Mandarin voice) rendered once to cached WAV files."""
from drivers.speech.espeak import Speech, text_hash

__all__ = ["Speech", "text_hash"]
