"""Canonical JSON: the exact bytes that are hashed and signed.

Keys sorted, no insignificant white space, UTF-8 (not ASCII-escaped), and only integers,
strings, booleans, null, arrays and objects — no floats, whose text forms differ between
languages. A verifier in another language need not re-encode anything: it hashes the bytes as
stored (see docs/evidence-format.md).
"""
from __future__ import annotations

import json
from typing import Any


def _check(value: Any, where: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return
    if isinstance(value, float):
        raise TypeError(f"{where}: floats are not allowed in evidence records ({value!r}); "
                        "use integers (ns, µs, ppm)")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: object keys must be strings, got {key!r}")
            _check(item, f"{where}.{key}")
        return
    raise TypeError(f"{where}: {type(value).__name__} cannot go in an evidence record")


def encode(value: Any) -> bytes:
    """The canonical bytes of ``value``; raises TypeError naming the field that cannot go in."""
    _check(value, "record")
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")
