"""No personal information over MQTT: the check every outgoing payload passes first.

Refused: keys that name personal data (``name``, ``phone``, ``id_number``, ``face``, their
Chinese forms, ...) at any depth; string values that look like a mainland China resident ID
number (18 characters, a valid date and checksum), a mobile phone number (``1[3-9]`` + 9
digits, optionally ``+86`` and separators), or an image (``data:image/``, base64 JPEG/PNG).
Numbers are not scanned: our payloads carry sizes, sequence numbers and nanoseconds, which an
ID or phone pattern would mistake; personal numbers are strings (an ID can end in ``X``).
A signed ledger line (the ``line`` of a checkpoint witness) is checked through its parsed
body, so the numbers inside it (``mono_ns``) are numbers there, not text.
"""
from __future__ import annotations

import re
from typing import Any

from firmware.protocol.mqtt.errors import PersonalDataError
from firmware.evidence.records import MalformedRecord, parse_line

_NAME_KEYS = {"name", "fullname", "firstname", "lastname", "surname", "givenname", "familyname",
              "nickname", "username", "realname", "customer", "policyholder", "insured",
              "applicant", "beneficiary", "salesperson", "guardian"}
_PERSONS = {"customer", "holder", "policyholder", "insured", "applicant", "beneficiary", "staff",
            "salesperson", "seller", "agent", "guardian", "user", "real", "full", "first", "last",
            "given", "family", "nick", "person", "owner"}
_WORDS = {"phone", "mobile", "tel", "telephone", "cellphone", "passport", "email", "birthday",
          "birthdate", "dob", "face", "portrait", "selfie", "address", "idcard", "idnumber"}
_COMPOUNDS = ("phonenumber", "mobileno", "idnumber", "idno", "idcard", "idcardno",
              "identitycard", "identitynumber", "passportno", "certno", "dateofbirth",
              "faceimage", "facephoto", "bankaccount", "accountno", "cardno", "cardnumber")
_CJK = ("姓名", "名字", "电话", "手机", "身份证", "证件号", "人脸", "面部", "照片", "头像", "住址",
        "地址", "邮箱", "生日", "出生", "银行卡", "账号")

_PHONE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?![0-9A-Za-z])")
_ID = re.compile(r"(?<!\d)([1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
                 r"\d{3}[\dXx])(?![\dXx])")
_IMAGE = re.compile(r"^\s*(?:data:image/|/9j/|iVBORw0KGgo|R0lGOD)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _words(key: str) -> list[str]:
    """``customerName`` / ``customer-name`` / ``customer_name`` -> ``["customer", "name"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [w for w in re.split(r"[\s_\-.:/]+", spaced.lower()) if w]


def personal_key(key: str) -> bool:
    """Whether a payload key names personal data (``customer_name``, ``mobile``, ``人脸``).

    Whole words count: ``microphone`` and ``interface`` are fine, ``customer_phone`` is not."""
    words = _words(key)
    joined = "".join(words)
    if joined in _NAME_KEYS or joined.endswith(_COMPOUNDS) or any(c in key for c in _CJK):
        return True
    if any(w in _WORDS for w in words):
        return True
    return len(words) >= 2 and words[-1] == "name" and words[-2] in _PERSONS


def is_resident_id(text: str) -> bool:
    """An 18-character PRC resident ID number with a valid ISO 7064 MOD 11-2 check character."""
    if len(text) != 18 or not text[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == text[17].upper()


def _text_problem(text: str) -> str | None:
    if _PHONE.search(text):
        return "looks like a phone number"
    if any(is_resident_id(m.group(1)) for m in _ID.finditer(text)):
        return "looks like a resident ID number"
    if len(text) >= 64 and _IMAGE.match(text):
        return "looks like an image"
    return None


def find_personal_data(value: Any, path: str = "$") -> str | None:
    """The first place in ``value`` that looks like personal data, as ``"PATH: why"``; or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if not isinstance(key, str):
                return f"{here}: a key that is not a string"
            if personal_key(key):
                return f"{here}: the key names personal data"
            problem = _text_problem(key)
            if problem:
                return f"{here}: the key {problem}"
            if key == "line" and isinstance(item, str):
                record = _record(item)
                if record is not None:
                    item = record.body
            found = find_personal_data(item, here)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = find_personal_data(item, f"{path}[{i}]")
            if found:
                return found
    elif isinstance(value, str):
        problem = _text_problem(value)
        if problem:
            return f"{path}: the value {problem}"
    elif isinstance(value, (bytes, bytearray)):
        return f"{path}: raw bytes (a payload carries JSON only)"
    return None


def _record(line: str):
    try:
        return parse_line(line.encode("utf-8"))
    except MalformedRecord:
        return None


def check_payload(value: Any) -> None:
    """Raise :class:`PersonalDataError` if ``value`` holds what looks like personal data."""
    found = find_personal_data(value)
    if found:
        raise PersonalDataError(f"refused to publish: {found}")


def check_witness(witness: dict) -> None:
    """A checkpoint witness: ``line`` must be a ledger record; all is checked as above."""
    if not isinstance(witness.get("line"), str) or _record(witness["line"]) is None:
        raise PersonalDataError("refused to publish: $.line is not a ledger record")
    check_payload(witness)


def redact_text(text: str) -> str:
    """``text`` with phone and resident ID numbers replaced by ``[redacted]`` (for logs)."""
    text = _PHONE.sub("[redacted]", text)
    return _ID.sub(lambda m: "[redacted]" if is_resident_id(m.group(1)) else m.group(0), text)
