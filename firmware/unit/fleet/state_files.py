"""Small JSON files the agent keeps in ``SPOOL/state/fleet/`` (not evidence), written whole.

A file is replaced atomically (``.tmp`` + fsync + rename + directory fsync). One that cannot
be read is renamed ``NAME.corrupt`` and reported; the agent then starts that part afresh.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from firmware.protocol.mqtt.errors import FleetError
from firmware.evidence import durable
from firmware.errors import storage_error

MAX_STATE_FILE = 16 * 1024 * 1024


class StateFileError(FleetError, ValueError):
    """A state file was unreadable; it was renamed (the message names both paths)."""


def write_json(path: Path, value: Any) -> None:
    """Replace ``path`` with ``value`` as JSON, durably."""
    try:
        durable.ensure_dir(path.parent)
        durable.write_atomic(path, json.dumps(value, ensure_ascii=False,
                                              separators=(",", ":")).encode("utf-8"))
    except OSError as exc:
        raise storage_error(exc, str(path)) from exc


def read_json(path: Path, default: Any, on_error: Callable[[Exception], None]) -> Any:
    """``path``'s JSON, ``default`` when absent; unreadable: renamed, reported, ``default``."""
    try:
        return json.loads(durable.read_regular(path, MAX_STATE_FILE))
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as exc:
        aside = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)
        except OSError:
            aside = path
        on_error(StateFileError(f"{path} is unreadable ({exc}); kept as {aside}, starting "
                                "afresh"))
        return default


class ResponseCache:
    """The answers to the last ``size`` commands, by command id, with a fingerprint of each
    request (its command and arguments), kept across restarts: a repeated id with the same
    request is answered again instead of run again; with another request it is refused."""

    def __init__(self, path: Path, on_error: Callable[[Exception], None], size: int = 64) -> None:
        self.path = Path(path)
        self.size = size
        self._entries: OrderedDict[str, tuple[dict, str]] = OrderedDict()
        raw = read_json(self.path, {"v": 1, "entries": []}, on_error)
        entries = raw.get("entries") if isinstance(raw, dict) else None
        for item in entries if isinstance(entries, list) else []:
            if (isinstance(item, dict) and isinstance(item.get("id"), str)
                    and isinstance(item.get("response"), dict)):
                request = item.get("request") if isinstance(item.get("request"), str) else ""
                self._entries[item["id"]] = (item["response"], request)

    def get(self, cmd_id: str) -> tuple[dict, str] | None:
        """``(answer, request fingerprint)`` of ``cmd_id`` ("" for an answer stored by an older
        version, which did not keep it), or None."""
        return self._entries.get(cmd_id)

    def put(self, cmd_id: str, response: dict, request: str = "") -> None:
        """Remember ``response`` for ``cmd_id`` (on disk before this returns)."""
        self._entries[cmd_id] = (response, request)
        self._entries.move_to_end(cmd_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        entries = [{"id": k, "request": r, "response": v} for k, (v, r) in self._entries.items()]
        write_json(self.path, {"v": 1, "entries": entries})
