"""What a customer's answer means: affirmative, negative or unclear, from word lists the
caller gives (a template's, or the shipped ``config/understanding/answers.toml``).

The answer (what the recogniser heard) and every listed word are compared as toneless pinyin
syllables (:mod:`firmware.unit.understanding.pinyin`), so the recogniser's choice among homophones
does not matter ("同一" is heard as "同意"). The rules, in this order:

1. a ``negative`` word anywhere → negative ("不同意" is negative although it contains "同意");
2. an ``affirmative`` word right after a ``negators`` word → negative ("不清楚"; "没问题" is
   fine because "没问题" is itself the affirmative word);
3. a ``hesitant`` word anywhere → unclear ("好的，我再想想"); so is a repetition loop, the
   same one to four syllables more than three times in a row (the recogniser's failure
   mode, "试试试试试试试试", not an answer);
4. the whole answer made of ``affirmative`` words and ``fillers`` ("嗯", "我", "的", "了" …),
   at least one affirmative → affirmative ("嗯，是的", "对，我同意", "好的，没问题");
5. anything else → unclear: silence, empty text, and any answer with a syllable that is neither
   (the recogniser's "普通意" for "不同意" is not a yes; nor is "这个时候不方便" for its "shi").

So an answer is affirmative only when all of it is a listed yes: a recognition mistake or an
unexpected word can only turn a yes into "ask again", never a no into a yes. Only affirmative
lets the session go on (negative and unclear both refuse NEXT).
"""
from __future__ import annotations

import enum
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from firmware.errors import ConfigError
from firmware.unit.understanding.pinyin import syllable_error_rate, toneless_syllables

__all__ = ["AnswerMeaning", "AnswerWords", "Meaning", "WordLists", "check_word_lists",
           "classify_answer", "read_word_lists", "syllable_error_rate", "toneless_syllables",
           "word_lists_sha256"]

LISTS = ("affirmative", "negative", "hesitant", "negators", "fillers")
MAX_WORDS = 200                 # per list
MAX_WORD_CHARS = 32
MAX_FILE_BYTES = 64 * 1024
MAX_REPEATS = 3                 # "是是是" is an answer; "是是是是…" is the recogniser looping
# what pinyin can hear: Chinese characters, Latin letters and digits (full-width ones too)
_HEARABLE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffA-Za-z0-9\uff10-\uff19"
                       r"\uff21-\uff3a\uff41-\uff5a]")

#: The five lists by name (see :data:`LISTS`), as plain text: what a template carries and what
#: crosses to the understanding worker (the pinyin libraries never load in the daemon).
WordLists = dict[str, tuple[str, ...]]


def check_word_lists(table: Any, where: str = "answers") -> tuple[WordLists, list[str]]:
    """The lists of ``table`` (a TOML table such as ``[answers]``) and every problem with them,
    all at once, each naming ``where``. The same rules as :class:`AnswerWords` without loading
    pinyin (cheap enough for the daemon, which only checks and forwards the lists)."""
    problems: list[str] = []
    lists: WordLists = {name: () for name in LISTS}
    if not isinstance(table, Mapping):
        return lists, [f"{where}: expected a table with {', '.join(LISTS)}"]
    for key in sorted(set(table) - set(LISTS)):
        problems.append(f"{where}.{key}: unknown key (the lists are {', '.join(LISTS)})")
    for name in LISTS:
        words = table.get(name, [])
        if isinstance(words, str) or not isinstance(words, (list, tuple)):
            problems.append(f"{where}.{name}: expected a list of words, got "
                            f"{type(words).__name__}")
            continue
        if name in ("affirmative", "negative") and not words:
            problems.append(f"{where}.{name}: needs at least one word")
        if len(words) > MAX_WORDS:
            problems.append(f"{where}.{name}: {len(words)} words, at most {MAX_WORDS}")
        good = []
        for word in words:
            if not isinstance(word, str) or not 0 < len(word) <= MAX_WORD_CHARS:
                problems.append(f"{where}.{name}: {word!r} is not a word of "
                                f"1..{MAX_WORD_CHARS} characters")
            elif not _HEARABLE.search(word):
                problems.append(f"{where}.{name}: {word!r} has nothing that can be heard (no "
                                "Chinese characters, letters or digits)")
            else:
                good.append(word)
        lists[name] = tuple(good)
    return lists, problems


def read_word_lists(path: Path | str, table: str = "answers") -> WordLists:
    """The lists of the ``[answers]`` table of a TOML file, checked (no pinyin loaded);
    ConfigError naming the file and every problem."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the answer word lists ({exc.strerror})") \
            from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not word lists")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    if table not in document:
        raise ConfigError(f"{path}: no [{table}] table")
    lists, problems = check_word_lists(document[table], f"{path}: {table}")
    if problems:
        raise ConfigError("invalid answer word lists:\n  " + "\n  ".join(problems))
    return lists


def word_lists_sha256(lists: Mapping[str, Sequence[str]]) -> str:
    """SHA-256 (hex) of the lists in a canonical JSON form: which lists judged an answer."""
    canonical = json.dumps({name: list(lists.get(name, ())) for name in LISTS},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Meaning(str, enum.Enum):
    """The meaning of an answer, as it goes on the chain."""

    AFFIRMATIVE = "affirmative"
    NEGATIVE = "negative"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class AnswerMeaning:
    """An answer's meaning, the listed word that decided it (None when nothing matched) and
    what was heard as toneless syllables."""

    meaning: Meaning
    word: str | None
    heard: tuple[str, ...]


@dataclass(frozen=True)
class AnswerWords:
    """The word lists an answer is judged by (see the module docstring for the rules).

    ``affirmative`` and ``negative`` must each hold at least one word; ``hesitant``,
    ``negators`` and ``fillers`` may be empty. Words are Chinese (or Latin, such as "OK") as
    written in the template; they are compared as toneless pinyin.
    """

    affirmative: tuple[str, ...]
    negative: tuple[str, ...]
    hesitant: tuple[str, ...] = ()
    negators: tuple[str, ...] = ()
    fillers: tuple[str, ...] = ()
    _syllables: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = {}
        for name in LISTS:
            words = getattr(self, name)
            if isinstance(words, str) or not isinstance(words, Sequence):
                raise ValueError(f"{name}: expected a list of words, got {type(words).__name__}")
            words = tuple(words)
            object.__setattr__(self, name, words)
            if name in ("affirmative", "negative") and not words:
                raise ValueError(f"{name}: needs at least one word")
            if len(words) > MAX_WORDS:
                raise ValueError(f"{name}: {len(words)} words, at most {MAX_WORDS}")
            entries = []
            for word in words:
                if not isinstance(word, str) or not 0 < len(word) <= MAX_WORD_CHARS:
                    raise ValueError(f"{name}: {word!r} is not a word of 1..{MAX_WORD_CHARS} "
                                     "characters")
                syllables = tuple(toneless_syllables(word))
                if not syllables:
                    raise ValueError(f"{name}: {word!r} has nothing that can be heard "
                                     "(no Chinese characters, letters or digits)")
                entries.append((word, syllables))
            compiled[name] = tuple(entries)
        object.__setattr__(self, "_syllables", compiled)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str = "answers") -> AnswerWords:
        """The lists from a TOML table such as ``[answers]``; ``where`` names it in errors."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: expected a table with {', '.join(LISTS)}")
        unknown = sorted(set(table) - set(LISTS))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; the lists are "
                              f"{', '.join(LISTS)}")
        try:
            return cls(**{name: table.get(name, ()) for name in LISTS})
        except ValueError as exc:
            raise ConfigError(f"{where}.{exc}") from None

    @classmethod
    def from_toml(cls, path: Path | str, table: str = "answers") -> AnswerWords:
        """The lists in the ``[answers]`` table of a TOML file (such as the shipped defaults)."""
        path = Path(path)
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the answer word lists ({exc.strerror})") \
                from None
        if len(data) > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not word lists")
        try:
            document = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        if table not in document:
            raise ConfigError(f"{path}: no [{table}] table")
        return cls.from_mapping(document[table], where=f"{path}: {table}")

    def entries(self, name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(word, toneless syllables) of one list."""
        return self._syllables[name]


def classify_answer(text: str, words: AnswerWords) -> AnswerMeaning:
    """The meaning of ``text`` (what was heard) by ``words``; never raises on any text.

    Text longer than the recogniser can produce for an answer is unclear, not an error.
    """
    try:
        heard = tuple(toneless_syllables(text)) if isinstance(text, str) else ()
    except ValueError:                          # longer than any answer: not a clear yes
        return AnswerMeaning(Meaning.UNCLEAR, None, ())
    negative = _matches(heard, words.entries("negative"))
    if negative:
        return AnswerMeaning(Meaning.NEGATIVE, negative[0][0], heard)
    affirmatives = _matches(heard, words.entries("affirmative"))
    negators = words.entries("negators")
    for word, start, _ in affirmatives:
        for negator, syllables in negators:
            if start >= len(syllables) and heard[start - len(syllables):start] == syllables:
                return AnswerMeaning(Meaning.NEGATIVE, negator + word, heard)
    hesitant = _matches(heard, words.entries("hesitant"))
    if hesitant:
        return AnswerMeaning(Meaning.UNCLEAR, hesitant[0][0], heard)
    if _loops(heard):
        return AnswerMeaning(Meaning.UNCLEAR, None, heard)
    if affirmatives and _tiled(heard, words.entries("affirmative") + words.entries("fillers")):
        return AnswerMeaning(Meaning.AFFIRMATIVE, affirmatives[0][0], heard)
    return AnswerMeaning(Meaning.UNCLEAR, None, heard)


def _loops(heard: tuple[str, ...]) -> bool:
    """Whether some 1-4 syllables repeat more than :data:`MAX_REPEATS` times in a row."""
    for size in range(1, 5):
        span = size * (MAX_REPEATS + 1)
        for start in range(len(heard) - span + 1):
            unit = heard[start:start + size]
            if all(heard[start + k * size:start + (k + 1) * size] == unit
                   for k in range(1, MAX_REPEATS + 1)):
                return True
    return False


def _tiled(heard: tuple[str, ...], entries: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
    """Whether ``heard`` is a sequence of the entries' syllables, end to end."""
    reachable = [True] + [False] * len(heard)
    for end in range(1, len(heard) + 1):
        reachable[end] = any(
            len(syllables) <= end and reachable[end - len(syllables)]
            and heard[end - len(syllables):end] == syllables for _, syllables in entries)
    return reachable[-1]


def _matches(heard: tuple[str, ...], entries: tuple[tuple[str, tuple[str, ...]], ...]
             ) -> list[tuple[str, int, int]]:
    """Every (word, start, end) where a word's syllables occur in ``heard``, by position."""
    found = []
    for word, syllables in entries:
        size = len(syllables)
        for start in range(len(heard) - size + 1):
            if heard[start:start + size] == syllables:
                found.append((word, start, start + size))
    found.sort(key=lambda match: (match[1], -(match[2] - match[1])))
    return found
