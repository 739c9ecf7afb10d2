"""A bounded look at CBOR bytes before anything decodes them.

cbor2 decodes every semantic tag it knows (tag 35 compiles a regular expression, tag 0
parses a date, tags 2/3 make big integers), and nests as deep as it is told. A ticket needs
none of that, so untrusted bytes are walked here first, without building any object: only
definite-length integers, byte and text strings, arrays, maps, ``true``/``false`` and the
tags the caller allows; at most ``max_depth`` levels and ``max_items`` items; exactly one
item and no bytes after it. A declared length is checked against the bytes that are
actually there, so a header claiming 2**63 elements costs nothing. Only then does cbor2
build the value.
"""
from __future__ import annotations

from typing import Any

import cbor2

_TRUE_FALSE = (20, 21)


class CBORShapeError(ValueError):
    """The bytes are not the small, plain CBOR a ticket is made of; says why."""


def check_shape(data: bytes, *, max_depth: int, max_items: int,
                tags: frozenset[int] = frozenset()) -> None:
    """Raise :class:`CBORShapeError` unless ``data`` is one plain CBOR item within the
    bounds. Iterative (no recursion), linear in ``len(data)``."""
    size = len(data)
    pos = 0
    items = 0
    pending = [1]  # items still to read at each open level
    while pending:
        if pending[-1] == 0:
            pending.pop()
            continue
        pending[-1] -= 1
        if pos >= size:
            raise CBORShapeError(f"truncated at byte {pos}")
        head = data[pos]
        pos += 1
        items += 1
        if items > max_items:
            raise CBORShapeError(f"more than {max_items} items")
        major, info = head >> 5, head & 0x1F
        if info < 24:
            arg = info
        elif info <= 27:
            width = 1 << (info - 24)
            if pos + width > size:
                raise CBORShapeError(f"truncated at byte {pos}")
            arg = int.from_bytes(data[pos:pos + width], "big")
            pos += width
        else:
            raise CBORShapeError(f"indefinite length or reserved value at byte {pos - 1}")
        if major in (0, 1):
            continue
        if major in (2, 3):
            if arg > size - pos:
                raise CBORShapeError(f"a string of {arg} bytes at byte {pos} runs past the end")
            pos += arg
            continue
        if major == 7:
            if info not in _TRUE_FALSE:
                raise CBORShapeError(f"only true and false are allowed, not simple/float "
                                     f"value {info} at byte {pos - 1}")
            continue
        if major == 6:
            if arg not in tags:
                raise CBORShapeError(f"tag {arg} is not allowed here")
            count = 1
        else:  # 4: array, 5: map
            count = arg if major == 4 else 2 * arg
            if count > size - pos:
                raise CBORShapeError(f"{count} items declared at byte {pos} but only "
                                     f"{size - pos} bytes left")
        pending.append(count)
        if len(pending) - 1 > max_depth:
            raise CBORShapeError(f"nested deeper than {max_depth} levels")
    if pos != size:
        raise CBORShapeError(f"{size - pos} bytes after the end of the item")


def loads_bounded(data: bytes, *, max_depth: int, max_items: int,
                  tags: frozenset[int] = frozenset()) -> Any:
    """The value of ``data`` after :func:`check_shape`; duplicate map keys and invalid
    UTF-8 are refused by cbor2 (all as :class:`CBORShapeError`). ``max_items`` also bounds
    the cost of hashing map keys, so integer keys need not be refused."""
    check_shape(data, max_depth=max_depth, max_items=max_items, tags=tags)
    try:
        return cbor2.loads(data, max_depth=max_depth + 1, allow_indefinite=False,
                           allow_duplicate_keys=False)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise CBORShapeError(f"not valid CBOR: {exc}") from None
