"""The JSON payloads the unit publishes (docs/mqtt.md). Every one carries ``"v": 1``.

Times are UTC in RFC 3339 with milliseconds (``"2024-05-01T08:15:00.123Z"``), from the unit's
CLOCK_REALTIME; the ``clock`` block of telemetry says whether that clock is NTP-synchronised.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from firmware.protocol.mqtt.status import DeviceStatus, TelemetrySnapshot
from firmware.protocol.mqtt.vocabulary import EVENT_KINDS

VERSION = 1
RESPONSE_EXPIRY_S = 600
"""MessageExpiryInterval of a command's answer: an operator who went away does not get it
from a persistent session hours later."""


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as sent on the wire."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def utc_iso(ts: float) -> str:
    """``ts`` (seconds since the epoch) as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    when = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: Any) -> float | None:
    """Seconds since the epoch from :func:`utc_iso`'s form; None when absent or unreadable."""
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def state_payload(device: str, branch: str, status: DeviceStatus, ts: float) -> dict[str, Any]:
    """Retained ``state`` of a connected unit."""
    return {"v": VERSION, "device": device, "branch": branch, "online": True,
            "state": status.state, "detail": status.detail, "ts": utc_iso(ts)}


def offline_payload(device: str, branch: str, reason: str, ts: float | None) -> dict[str, Any]:
    """Retained ``state`` of a unit that is gone: its Last Will (``ts`` null: the broker sends
    it when the unit falls silent, at a time the unit cannot know) or a clean stop."""
    return {"v": VERSION, "device": device, "branch": branch, "online": False,
            "state": "offline", "detail": reason, "ts": utc_iso(ts) if ts is not None else None}


def telemetry_payload(device: str, branch: str, snapshot: TelemetrySnapshot, outbox: int,
                      ts: float) -> dict[str, Any]:
    """Retained ``telemetry``; ``outbox``: messages waiting on the unit's disk for the broker."""
    return {"v": VERSION, "device": device, "branch": branch, "ts": utc_iso(ts),
            **snapshot.as_payload(), "outbox": outbox}


def event_payload(device: str, kind: str, data: dict[str, Any], event_id: str,
                  ts: float) -> dict[str, Any]:
    """One ``events`` message; ``ts`` is when it happened (it may be delivered much later)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"event kind {kind!r} is not one of the contract's: "
                         f"{', '.join(EVENT_KINDS)}")
    if not isinstance(data, dict):
        raise ValueError(f"event data must be a dict, not {type(data).__name__}")
    return {"v": VERSION, "device": device, "id": event_id, "kind": kind, "ts": utc_iso(ts),
            "data": data}


def checkpoint_payload(witness: dict[str, Any], ts: float) -> dict[str, Any]:
    """``checkpoint``/``checkpoints``: the witness of :meth:`Record.witness` (``line``, ``seq``,
    ``hash``, ``device``), usable as is with ``dualrec verify --checkpoint``."""
    return {"v": VERSION, **witness, "ts": utc_iso(ts)}


def response_payload(device: str, cmd_id: str | None, command: str | None, *, ok: bool,
                     result: dict[str, Any] | None = None, code: str = "",
                     message: str = "", ts: float) -> dict[str, Any]:
    """A command's answer: ``result`` when ``ok``, else ``error: {code, message}``."""
    out: dict[str, Any] = {"v": VERSION, "device": device, "id": cmd_id, "command": command,
                           "ok": ok, "ts": utc_iso(ts)}
    if ok:
        out["result"] = result or {}
    else:
        out["error"] = {"code": code, "message": message}
    return out
