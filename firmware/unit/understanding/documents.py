"""Which document is shown: the name and number on a resident identity card and the number on a
投保单, taken from OCR lines and compared with the ticket.

What the OCR read is personal data. Every check returns a :class:`DocumentCheck` in two parts:
``public`` (the outcome per field, how many lines were read, and ``digest``) may go into
signed records; ``private`` (the lines read, the values found, and a random ``salt``) belongs
only in a sealed, encrypted file. ``digest`` is the SHA-256 of the canonical bytes of
``private``: it ties the record to the sealed file, and because of the salt it cannot be
brute-forced back to an ID number (an 18-digit number with a check character and a birth date
has only ~10^11 possible values; a bare hash of it would be reversible).

The parsers take lines from any OCR (objects with ``text``, ``box`` and ``score``, like
:class:`drivers.vision.TextLine`) and never fail on odd ones: at most :data:`MAX_LINES` lines of
:data:`MAX_TEXT` characters are looked at, and a box that is not four points is ignored.
"""
from __future__ import annotations

import hashlib
import math
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from firmware.evidence.canonical import encode
from firmware.errors import DualrecError
from firmware.people.errors import FieldError
from firmware.people.id_documents import check_citizen_number

MAX_LINES = 400
MAX_TEXT = 200
MAX_PATTERN = 200

MATCH, MISMATCH, UNREADABLE = "match", "mismatch", "unreadable"
FIELD_MATCH, FIELD_MISMATCH, FIELD_UNREAD = "match", "mismatch", "unread"

ID_MISMATCH = "id_mismatch"
DOCUMENT_MISMATCH = "document_mismatch"

_NAME_LABEL = "姓名"
_NUMBER_LABEL = "公民身份号码"
_FORM_LABELS = ("投保单号码", "投保单号", "投保书号", "投保单编号")
# characters OCR confuses with digits; applied only inside digit-like runs, and a number is
# accepted only if it then passes the GB 11643 check character and birth date
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1",
                                   "|": "1", "i": "1", "Z": "2", "z": "2", "S": "5", "s": "5",
                                   "B": "8", "x": "X", "×": "X"})
_DIGIT_RUN = re.compile(r"[0-9OoDQIl|iZzSsBxX×]{18,}")
_NAME_CHARS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff·]+")
_MIDDLE_DOTS = str.maketrans({"•": "·", "・": "·", "‧": "·", "．": "·", ".": "·"})


class DocumentRuleError(DualrecError, ValueError):
    """A rule given to the parser (an application-number pattern, an expected value) is
    unusable; the message names it."""


class OcrLine(Protocol):
    text: str
    box: Any
    score: float


@dataclass(frozen=True)
class _Line:
    text: str                     # NFKC-normalised, at most MAX_TEXT characters
    box: tuple[float, float, float, float] | None   # x0, y0, x1, y1
    score: float


@dataclass(frozen=True)
class IdCardReading:
    """What an ID card showed: ``name`` and ``number`` (None if not found), ``number_invalid``
    when an 18-character number was seen that fails the GB 11643 check (misread or forged)."""

    name: str | None
    number: str | None
    number_invalid: bool
    lines: tuple[_Line, ...] = field(repr=False)


@dataclass(frozen=True)
class FormReading:
    """What a 投保单 showed: its ``application_no`` (None if not found or ambiguous)."""

    application_no: str | None
    lines: tuple[_Line, ...] = field(repr=False)


@dataclass(frozen=True)
class DocumentCheck:
    """The comparison of a document with the ticket.

    ``outcome``: ``match``, ``mismatch`` or ``unreadable``; ``finding``: the finding to raise
    (``id_mismatch`` / ``document_mismatch``) or None; ``public``: for records; ``private``:
    for the sealed file only; ``digest``: SHA-256 (hex) of :meth:`private_bytes`.
    """

    outcome: str
    finding: str | None
    public: dict
    private: dict = field(repr=False)
    digest: str

    def private_bytes(self) -> bytes:
        """The canonical JSON of ``private``: what to encrypt and seal."""
        return encode(self.private)


# -- reading -------------------------------------------------------------------------------------
def read_id_card(lines: Iterable[OcrLine]) -> IdCardReading:
    """The name and citizen number on an ID card, from OCR ``lines``."""
    clean = _normalise(lines)
    number, invalid = _find_number(clean)
    return IdCardReading(_find_name(clean), number, invalid, clean)


def read_application_form(lines: Iterable[OcrLine], pattern: str | re.Pattern[str]
                          ) -> FormReading:
    """The application number on a 投保单: text matching ``pattern`` (a regular expression for
    the whole number, e.g. ``r"TB\\d{13}"``), preferring a line labelled 投保单号. None if not
    found, or if several different numbers are shown and none is labelled."""
    rx = _compile(pattern)
    clean = _normalise(lines)
    labelled, anywhere = [], []
    for line in clean:
        compact = re.sub(r"\s+", "", line.text)
        found = [m.group(0) for m in rx.finditer(compact) if _bounded(compact, m)]
        anywhere += found
        if any(label in compact for label in _FORM_LABELS):
            labelled += found
    for candidates in (labelled, anywhere):
        distinct = sorted(set(candidates))
        if len(distinct) == 1:
            return FormReading(distinct[0], clean)
        if len(distinct) > 1:
            return FormReading(None, clean)
    return FormReading(None, clean)


# -- comparing -----------------------------------------------------------------------------------
def check_id_card(reading: IdCardReading, *, name: str, number: str,
                  salt: str | None = None) -> DocumentCheck:
    """``reading`` against the ticket's ``name`` and ``number``: a mismatch if either was read
    and differs (``id_mismatch``), a match if both were read and agree, else unreadable.
    ``salt`` (hex) only for reproducible tests; by default a fresh random one."""
    want_number = _normalise_number(number, "expected number")
    want_name = _normalise_name(name)
    if not want_name:
        raise DocumentRuleError("expected name: must have at least one CJK character or letter")
    fields = {"number": _compare(reading.number, want_number),
              "name": _compare(_normalise_name(reading.name) if reading.name else None,
                               want_name)}
    outcome = _outcome(fields)
    private = {"document": "id_card", "read": {"name": reading.name, "number": reading.number},
               "lines": _private_lines(reading.lines)}
    extra = {"number_invalid": reading.number_invalid}
    return _check("id_card", outcome, ID_MISMATCH, fields, extra, private, reading.lines, salt)


def check_application_form(reading: FormReading, *, application_no: str,
                           salt: str | None = None) -> DocumentCheck:
    """``reading`` against the ticket's ``application_no`` (``document_mismatch`` if another
    number was read)."""
    want = unicodedata.normalize("NFKC", application_no or "").strip()
    if not want:
        raise DocumentRuleError("expected application number: must not be empty")
    fields = {"application_no": _compare(reading.application_no, want)}
    private = {"document": "application_form",
               "read": {"application_no": reading.application_no},
               "lines": _private_lines(reading.lines)}
    return _check("application_form", _outcome(fields), DOCUMENT_MISMATCH, fields, {},
                  private, reading.lines, salt)


def _compare(read: str | None, wanted: str) -> str:
    if read is None:
        return FIELD_UNREAD
    return FIELD_MATCH if read == wanted else FIELD_MISMATCH


def _outcome(fields: dict[str, str]) -> str:
    if FIELD_MISMATCH in fields.values():
        return MISMATCH
    if all(v == FIELD_MATCH for v in fields.values()):
        return MATCH
    return UNREADABLE


def _check(document: str, outcome: str, finding: str, fields: dict, extra: dict,
           private: dict, lines: tuple[_Line, ...], salt: str | None) -> DocumentCheck:
    if salt is None:
        salt = secrets.token_hex(16)
    elif not re.fullmatch(r"[0-9a-f]{32,128}", salt):
        raise DocumentRuleError("salt: must be 32 to 128 lowercase hex digits")
    private = dict(private, salt=salt)
    digest = hashlib.sha256(encode(private)).hexdigest()
    public = {"document": document, "outcome": outcome, "fields": fields,
              "lines": len(lines), "digest": digest, **extra}
    return DocumentCheck(outcome, finding if outcome == MISMATCH else None, public, private,
                         digest)


def _private_lines(lines: tuple[_Line, ...]) -> list[dict]:
    return [{"text": line.text,
             "box": None if line.box is None else [round(v) for v in line.box],
             "score_permille": round(line.score * 1000)} for line in lines]


# -- parsing helpers -----------------------------------------------------------------------------
def _normalise(lines: Iterable[OcrLine]) -> tuple[_Line, ...]:
    out = []
    for i, line in enumerate(lines):
        if i >= MAX_LINES:
            break
        text = getattr(line, "text", "")
        text = unicodedata.normalize("NFKC", text[:MAX_TEXT * 2] if isinstance(text, str)
                                     else "")[:MAX_TEXT]
        score = getattr(line, "score", 0.0)
        if isinstance(score, bool) or not isinstance(score, (int, float)) \
                or not math.isfinite(score):
            score = 0.0
        out.append(_Line(text, _bounds(getattr(line, "box", None)), min(max(score, 0.0), 1.0)))
    return tuple(out)


def _bounds(box: object) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) of four corner points, or None if ``box`` is not that."""
    try:
        points = list(box)  # type: ignore[call-overload]
        if len(points) != 4:
            return None
        xs = [float(p[0]) for p in points]
        ys = [float(p[1]) for p in points]
        if not all(len(p) == 2 for p in points):
            return None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if not all(math.isfinite(v) and abs(v) < 1e7 for v in xs + ys):
        return None
    return min(xs), min(ys), max(xs), max(ys)


def _find_number(lines: tuple[_Line, ...]) -> tuple[str | None, bool]:
    labelled, anywhere, invalid = [], [], False
    for line in lines:
        compact = re.sub(r"\s+", "", line.text)
        for run in _DIGIT_RUN.findall(compact):
            fixed = run.translate(_DIGIT_LOOKALIKES)
            if len(fixed) != 18 or not fixed[:17].isdigit():
                continue
            try:
                number = check_citizen_number(fixed, "id card")
            except FieldError:
                invalid = True
                continue
            anywhere.append(number)
            if _NUMBER_LABEL in compact:
                labelled.append(number)
    for candidates in (labelled, anywhere):
        distinct = sorted(set(candidates))
        if len(distinct) == 1:
            return distinct[0], False
        if len(distinct) > 1:
            return None, invalid
    return None, invalid


def _find_name(lines: tuple[_Line, ...]) -> str | None:
    for i, line in enumerate(lines):
        compact = re.sub(r"\s+", "", line.text)
        if not compact.startswith(_NAME_LABEL):
            continue
        rest = _name_in(compact[len(_NAME_LABEL):])
        if rest:
            return rest
        beside = _right_of(line, lines)
        if beside is not None:
            return beside
        if i + 1 < len(lines):   # no geometry: the next line in reading order
            return _name_in(re.sub(r"\s+", "", lines[i + 1].text))
    return None


def _right_of(label: _Line, lines: tuple[_Line, ...]) -> str | None:
    """The name in the nearest line to the right of ``label`` on the same row."""
    if label.box is None:
        return None
    x0, y0, x1, y1 = label.box
    centre, height = (y0 + y1) / 2, max(y1 - y0, 1.0)
    best: tuple[float, str] | None = None
    for other in lines:
        if other is label or other.box is None:
            continue
        ox0, oy0, ox1, oy1 = other.box
        if ox0 < x1 - height * 0.5 or abs((oy0 + oy1) / 2 - centre) > height * 0.8:
            continue
        name = _name_in(re.sub(r"\s+", "", other.text))
        if name and (best is None or ox0 < best[0]):
            best = (ox0, name)
    return best[1] if best else None


def _name_in(text: str) -> str | None:
    """The first run of CJK characters (and middle dots) of 2-15 characters in ``text``."""
    for run in _NAME_CHARS.findall(text.translate(_MIDDLE_DOTS).lstrip(":：")):
        run = run.strip("·")
        if 2 <= len(run) <= 15:
            return run
    return None


def _normalise_name(name: str | None) -> str:
    text = unicodedata.normalize("NFKC", name or "")
    return re.sub(r"\s+", "", text).translate(_MIDDLE_DOTS)


def _normalise_number(number: str, what: str) -> str:
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", number or "")).upper()
    if not text:
        raise DocumentRuleError(f"{what}: must not be empty")
    return text


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str) or not 1 <= len(pattern) <= MAX_PATTERN:
        raise DocumentRuleError(f"application number pattern: must be a regular expression of "
                                f"1..{MAX_PATTERN} characters")
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise DocumentRuleError(f"application number pattern {pattern!r}: {exc}") from None
    if rx.fullmatch(""):
        raise DocumentRuleError(f"application number pattern {pattern!r}: matches empty text")
    return rx


def _bounded(text: str, match: re.Match[str]) -> bool:
    """The match is not part of a longer run of letters and digits."""
    before = text[match.start() - 1] if match.start() > 0 else ""
    after = text[match.end()] if match.end() < len(text) else ""
    return not (before.isascii() and before.isalnum()) and not (after.isascii()
                                                               and after.isalnum())
