"""The operators' table of units, built from the retained ``state`` and ``telemetry`` topics."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from firmware.protocol.mqtt import topics
from firmware.protocol.mqtt.payloads import parse_iso

DISK_LOW_FRACTION = 0.10          # flag a disk with less than this share free
BACKLOG_OLD_S = 24 * 3600         # flag evidence waiting longer than this for the cloud


@dataclass
class DeviceRow:
    """What the fleet knows of one unit. Sizes in bytes, ages in seconds, times epoch seconds."""

    device: str
    branch: str = ""
    state: str = "unknown"
    detail: str = ""
    last_seen: float | None = None
    backlog_count: int | None = None
    backlog_bytes: int | None = None
    backlog_oldest_age_s: float | None = None
    disk_free_bytes: int | None = None
    disk_total_bytes: int | None = None
    clock_synced: bool | None = None
    clock_offset_ms: float | None = None
    firmware: str = ""
    chain_seq: int | None = None
    chain_hash: str = ""
    outbox: int | None = None
    flags: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _num(v: Any) -> Any:
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _apply_state(row: DeviceRow, p: dict) -> None:
    row.branch = p.get("branch") if isinstance(p.get("branch"), str) else row.branch
    row.state = p.get("state") if isinstance(p.get("state"), str) else "unknown"
    row.detail = p.get("detail") if isinstance(p.get("detail"), str) else ""
    _seen(row, parse_iso(p.get("ts")))


def _apply_telemetry(row: DeviceRow, p: dict) -> None:
    if isinstance(p.get("branch"), str) and not row.branch:
        row.branch = p["branch"]
    _seen(row, parse_iso(p.get("ts")))
    row.backlog_count = _num(_get(p, "backlog", "count"))
    row.backlog_bytes = _num(_get(p, "backlog", "bytes"))
    row.backlog_oldest_age_s = _num(_get(p, "backlog", "oldest_age_s"))
    row.disk_free_bytes = _num(_get(p, "disk", "free_bytes"))
    row.disk_total_bytes = _num(_get(p, "disk", "total_bytes"))
    synced = _get(p, "clock", "synced")
    row.clock_synced = synced if isinstance(synced, bool) else None
    row.clock_offset_ms = _num(_get(p, "clock", "offset_ms"))
    row.firmware = p.get("firmware") if isinstance(p.get("firmware"), str) else ""
    row.chain_seq = _num(_get(p, "chain", "seq"))
    h = _get(p, "chain", "hash")
    row.chain_hash = h if isinstance(h, str) else ""
    row.outbox = _num(p.get("outbox"))
    flags = p.get("flags") if isinstance(p.get("flags"), list) else []
    health = p.get("health") if isinstance(p.get("health"), dict) else {}
    row.flags = derived_flags(row, health) + [str(f) for f in flags][:20]


def _seen(row: DeviceRow, ts: float | None) -> None:
    if ts is not None and (row.last_seen is None or ts > row.last_seen):
        row.last_seen = ts


def derived_flags(row: DeviceRow, health: dict) -> list[str]:
    """Flags computed from telemetry: low disk, old backlog, unsynchronised clock, faults."""
    flags = []
    if row.disk_free_bytes is not None and row.disk_total_bytes:
        if row.disk_free_bytes < DISK_LOW_FRACTION * row.disk_total_bytes:
            flags.append("disk-low")
    if row.backlog_oldest_age_s is not None and row.backlog_oldest_age_s > BACKLOG_OLD_S:
        flags.append("backlog-old")
    if row.clock_synced is False:
        flags.append("clock-unsynced")
    for part in ("camera", "microphone", "pad"):
        status = health.get(part)
        if isinstance(status, str) and status not in ("ok", "unknown"):
            flags.append(f"{part}-{status}")
    if row.outbox:
        flags.append(f"outbox-{row.outbox}")
    return flags


def rows_from_retained(messages: Iterable[Any]) -> list[DeviceRow]:
    """Rows from retained messages (anything with ``.topic`` and ``.payload``), by branch and
    id. Unreadable payloads and topics outside the layout are skipped."""
    rows: dict[str, DeviceRow] = {}
    for msg in messages:
        where = topics.split_device_topic(msg.topic)
        if where is None or where[1] not in (topics.STATE, topics.TELEMETRY) or not msg.payload:
            continue
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            continue
        if not isinstance(payload, dict):
            continue
        row = rows.setdefault(where[0], DeviceRow(where[0]))
        (_apply_state if where[1] == topics.STATE else _apply_telemetry)(row, payload)
    return sorted(rows.values(), key=lambda r: (r.branch, r.device))


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _size(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    return "-"


def _cells(row: DeviceRow, now: float) -> list[str]:
    backlog = "-" if row.backlog_count is None else (
        f"{row.backlog_count}/{_size(row.backlog_bytes)}/{_age(row.backlog_oldest_age_s)}")
    disk = "-" if row.disk_free_bytes is None else _size(row.disk_free_bytes) + (
        f" ({100 * row.disk_free_bytes / row.disk_total_bytes:.0f}%)"
        if row.disk_total_bytes else "")
    clock = "-" if row.clock_synced is None else (
        ("ntp" if row.clock_synced else "UNSYNCED") + (
            f" ±{row.clock_offset_ms:.0f}ms" if row.clock_offset_ms is not None else ""))
    head = "-" if row.chain_seq is None else f"{row.chain_seq}:{row.chain_hash[:12]}"
    seen = _age(now - row.last_seen) + " ago" if row.last_seen is not None else "-"
    return [row.device, row.branch or "-", row.state, seen, backlog, disk, clock,
            row.firmware or "-", head, ",".join(row.flags) or "-"]


HEADERS = ["DEVICE", "BRANCH", "STATE", "LAST SEEN", "BACKLOG", "DISK FREE", "CLOCK", "VERSION",
           "CHAIN HEAD", "FLAGS"]


def format_table(rows: list[DeviceRow], now: float) -> str:
    """The ``devices`` table and a one-line summary."""
    table = [HEADERS] + [_cells(r, now) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in table]
    return "\n".join(lines + [summary(rows)])


def summary(rows: list[DeviceRow]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    flagged = sum(1 for r in rows if r.flags)
    return f"{len(rows)} units: {parts or 'none'}; {flagged} flagged"
