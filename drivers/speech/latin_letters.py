"""Latin letters in Mandarin prompts (product names such as "（A款）", "VIP"), spelled out.

misaki's Chinese G2P passes anything that is not a Chinese character through as if it were
already phonemes, so "VIP" would reach the model as the symbols V, I, P, two of which are not
in its vocabulary (it would say only "I"). Each Latin letter is therefore replaced, before the
G2P, by the phonemes of its English name in the alphabet Kokoro was trained on (misaki's:
``A`` = /eɪ/, ``I`` = /aɪ/, ``O`` = /oʊ/, ``ˈ`` = stress), which is how these letters are read
in Mandarin speech too. Letters are spelled one by one: a prompt's Latin text is an acronym or
a model letter, not an English word.
"""
from __future__ import annotations

import re

_LETTER_NAMES = {
    "A": "ˈA", "B": "bˈi", "C": "sˈi", "D": "dˈi", "E": "ˈi", "F": "ˈɛf", "G": "ʤˈi",
    "H": "ˈAʧ", "I": "ˈI", "J": "ʤˈA", "K": "kˈA", "L": "ˈɛl", "M": "ˈɛm", "N": "ˈɛn",
    "O": "ˈO", "P": "pˈi", "Q": "kjˈu", "R": "ˈɑɹ", "S": "ˈɛs", "T": "tˈi", "U": "jˈu",
    "V": "vˈi", "W": "dˈʌbᵊlju", "X": "ˈɛks", "Y": "wˈI", "Z": "zˈi",
}
_LATIN_RUN = re.compile(r"[A-Za-z]+")


def spell_latin(text: str) -> str:
    """``text`` with every run of Latin letters replaced by the letters' names (phonemes),
    set off by spaces."""
    return _LATIN_RUN.sub(
        lambda run: " " + " ".join(_LETTER_NAMES[c] for c in run.group().upper()) + " ", text)


def letter_symbols() -> set[str]:
    """Every phoneme symbol the spelled letters use (each must be in Kokoro's vocabulary)."""
    return {symbol for name in _LETTER_NAMES.values() for symbol in name}
