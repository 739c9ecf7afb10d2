"""Kokoro-82M v1.0's input vocabulary: the token id of each phoneme symbol the model was
trained on (the ``vocab`` of the model's published ``config.json``; 114 symbols, ids 1..177 of
an embedding of 178 rows). Id 0 is the pad the model expects at both ends of a sequence.

The table is data about the model, not code: it must match the weights byte for byte, so it
changes only together with the pinned model hash in :mod:`drivers.speech.kokoro_assets`.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

PAD_ID = 0
EMBEDDING_ROWS = 178

# id: symbol (escaped where the symbol is invisible: U+0022 quote, U+0303 combining tilde)
_SYMBOL_OF_ID: Mapping[int, str] = MappingProxyType({
    1: ";", 2: ":", 3: ",", 4: ".", 5: "!", 6: "?", 9: "—", 10: "…",
    11: "\u0022", 12: "(", 13: ")", 14: "“", 15: "”", 16: " ", 17: "\u0303", 18: "ʣ",
    19: "ʥ", 20: "ʦ", 21: "ʨ", 22: "ᵝ", 23: "ꭧ", 24: "A", 25: "I", 31: "O",
    33: "Q", 35: "S", 36: "T", 39: "W", 41: "Y", 42: "ᵊ", 43: "a", 44: "b",
    45: "c", 46: "d", 47: "e", 48: "f", 50: "h", 51: "i", 52: "j", 53: "k",
    54: "l", 55: "m", 56: "n", 57: "o", 58: "p", 59: "q", 60: "r", 61: "s",
    62: "t", 63: "u", 64: "v", 65: "w", 66: "x", 67: "y", 68: "z", 69: "ɑ",
    70: "ɐ", 71: "ɒ", 72: "æ", 75: "β", 76: "ɔ", 77: "ɕ", 78: "ç", 80: "ɖ",
    81: "ð", 82: "ʤ", 83: "ə", 85: "ɚ", 86: "ɛ", 87: "ɜ", 90: "ɟ", 92: "ɡ",
    99: "ɥ", 101: "ɨ", 102: "ɪ", 103: "ʝ", 110: "ɯ", 111: "ɰ", 112: "ŋ", 113: "ɳ",
    114: "ɲ", 115: "ɴ", 116: "ø", 118: "ɸ", 119: "θ", 120: "œ", 123: "ɹ", 125: "ɾ",
    126: "ɻ", 128: "ʁ", 129: "ɽ", 130: "ʂ", 131: "ʃ", 132: "ʈ", 133: "ʧ", 135: "ʊ",
    136: "ʋ", 138: "ʌ", 139: "ɣ", 140: "ɤ", 142: "χ", 143: "ʎ", 147: "ʒ", 148: "ʔ",
    156: "ˈ", 157: "ˌ", 158: "ː", 162: "ʰ", 164: "ʲ", 169: "↓", 171: "→", 172: "↗",
    173: "↘", 177: "ᵻ",
})


def token_ids() -> Mapping[str, int]:
    """Symbol → token id (read-only)."""
    return MappingProxyType({symbol: token for token, symbol in _SYMBOL_OF_ID.items()})
