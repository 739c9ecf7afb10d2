"""Ledger tail ranges: how the open ledger file reaches the bucket before it is closed.

The uploader writes bytes [S, E) of the open file as ``ledger-tail/<file>/<S>-<E>`` (see
:mod:`firmware.protocol.bucket.layout`), each range starting where the last one ended and ending on a
record boundary. A verifier joins them back (:func:`join_ranges`).
"""
from __future__ import annotations

from typing import Any

from firmware.protocol.bucket.layout import TAIL_DIR, object_key, parse_tail_rel
from firmware.protocol.bucket.objects import classify


def list_ranges(client: Any, bucket: str, root: str, ledger_name: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the tail ranges of ``ledger_name`` in the bucket, sorted."""
    prefix = object_key(root, f"{TAIL_DIR}/{ledger_name}/")
    found = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                      Prefix=prefix):
            for obj in page.get("Contents", []):
                parsed = parse_tail_rel(obj["Key"][len(root) + 1:])
                if parsed is not None:
                    found.append(parsed[1:])
    except Exception as exc:  # noqa: BLE001 - classified
        raise classify(exc, f"list {prefix}") from exc
    return sorted(found)


def tail_start(client: Any, bucket: str, root: str, ledger_name: str) -> int:
    """Where the next range of ``ledger_name`` starts: the end of the ranges in the bucket
    that join up from byte 0 (0 when there are none)."""
    end = 0
    for start, stop in list_ranges(client, bucket, root, ledger_name):
        if start <= end:
            end = max(end, stop)
    return end


def join_ranges(ranges: list[tuple[int, int, bytes]]) -> tuple[bytes, list[str]]:
    """Join ``(start, end, data)`` ranges into the file they are part of; the problems found
    (a hole, a range whose bytes disagree with an overlapping one, a wrong length)."""
    out = bytearray()
    problems = []
    for start, end, data in sorted(ranges, key=lambda r: (r[0], r[1])):
        name = f"{start:012d}-{end:012d}"
        if len(data) != end - start:
            problems.append(f"range {name} holds {len(data)} bytes, not {end - start}")
            continue
        if start > len(out):
            problems.append(f"range {name} leaves a hole after byte {len(out)}")
            break
        overlap = out[start:end]
        if data[:len(overlap)] != overlap:
            problems.append(f"range {name} disagrees with the bytes before it")
            continue
        out += data[len(overlap):]
    return bytes(out), problems
