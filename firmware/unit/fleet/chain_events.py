"""Chain records as the fleet hears them: each record, once durable, becomes the events of the
contract (docs/asyncapi/dualrec-mqtt-v1.yaml) that it means.

- SESSION_START: ``session_started`` (template, mode);
- SESSION_END: ``session_ended`` with why it ended (``ending``, from the record's ``reason``
  and, for a daemon stopping, the restart or reboot command that stopped it);
- EVENT ``device_lost``: ``fault`` (the part and what the driver said);
- EVENT ``selftest``: ``selftest``, and a ``fault`` for each check that has just started
  failing (not again every self-test while it stays broken);
- EVENT ``record_refused``, ``badge_refused``, ``disk_low``: the same kinds.

Nothing else on the chain leaves the unit; nothing personal is copied (the agent checks every
payload again). Sessions are named by their id only.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

from firmware.evidence import records
from firmware.evidence.records import Record

DEVICE_PARTS = {"camera": "camera", "microphone": "microphone", "sigpad": "pad", "pad": "pad"}
STOPPED = "stopped by RECORD held"
DISK_LOW = "disk_low"
DAEMON_STOPPING = "daemon stopping"
RECOVERED = "closed by recovery"
REMEMBERED_SESSIONS = 64

Event = tuple[str, dict[str, Any]]
Stopping = tuple[str, str, bool] | None    # (restart|reboot, command id, force) running now


def ending_of(data: dict[str, Any], stopping: Stopping) -> tuple[str, str]:
    """``(ending, reason)`` of a SESSION_END record's data (the contract's words)."""
    if data.get("closed_by") == "recovery":
        return "interrupted", RECOVERED
    reason = data.get("reason") if isinstance(data.get("reason"), str) else ""
    if reason == STOPPED:
        return ("completed" if data.get("script_complete") else "stopped"), reason
    if reason == DISK_LOW:
        return "disk_full", reason
    if reason.startswith("fault"):
        return "fault", reason
    if reason == DAEMON_STOPPING:
        return (stopping[0] if stopping else "shutdown"), reason
    return "other", reason


def _sale(data: dict[str, Any]) -> dict[str, Any]:
    """The sale a SESSION_START was bound to (its ticket's id and application pseudonym)."""
    ticket = data.get("ticket") if isinstance(data.get("ticket"), dict) else {}
    return {k: ticket.get(k) if isinstance(ticket.get(k), str) else None
            for k in ("ticket_id", "application_hash")}


def session_ended(record: Record, template: str | None, stopping: Stopping,
                  sale: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``session_ended`` data of a SESSION_END record."""
    data = record.data
    ending, reason = ending_of(data, stopping)
    quality = data.get("quality") if isinstance(data.get("quality"), dict) else {}
    findings = [f["check"] for f in quality.get("findings") or []
                if isinstance(f, dict) and isinstance(f.get("check"), str)]
    refusals = data.get("refusals")
    stats = data.get("stats")
    return {"session_id": record.session, "template": template, "ending": ending,
            "reason": reason, "verdict": quality.get("verdict"),
            "findings": sorted(set(findings)),
            "refusals": refusals if isinstance(refusals, int) else None,
            "script_complete": bool(data.get("script_complete", False)),
            "end_seq": record.seq, "stats": stats if isinstance(stats, dict) else None,
            "command_id": stopping[1] if stopping and ending == stopping[0] else None,
            **(sale or {"ticket_id": None, "application_hash": None})}


def interrupted(session_id: str, end_seq: int) -> dict[str, Any]:
    """``session_ended`` of a session recovery closed (the run it belonged to died)."""
    return {"session_id": session_id, "template": None, "ending": "interrupted",
            "reason": RECOVERED, "verdict": None, "findings": [], "refusals": None,
            "script_complete": False, "end_seq": end_seq, "stats": None, "command_id": None,
            "ticket_id": None, "application_hash": None}


class ChainEvents:
    """Turns records into fleet events; remembers each open session's template and which
    self-test checks are failing. Used from the ledger's writer threads: one record at a time
    (the ledger serialises appends)."""

    def __init__(self) -> None:
        self._templates: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self._failing: set[str] = set()

    def events_for(self, record: Record, stopping: Stopping = None) -> list[Event]:
        if record.type == records.SESSION_START:
            return [self._started(record)]
        if record.type == records.SESSION_END:
            template, sale = self._templates.pop(record.session, (None, None))
            return [("session_ended", session_ended(record, template, stopping, sale))]
        if record.type != records.EVENT:
            return []
        kind = record.data.get("kind")
        handler = getattr(self, f"_{kind}", None) if kind in (
            "device_lost", "selftest", "record_refused", "badge_refused", "disk_low") else None
        return handler(record) if handler else []

    def _started(self, record: Record) -> Event:
        data = record.data
        template = data.get("template") if isinstance(data.get("template"), dict) else {}
        template_id = str(template.get("id", ""))
        sale = _sale(data)
        self._templates[record.session] = (template_id, sale)
        while len(self._templates) > REMEMBERED_SESSIONS:
            self._templates.popitem(last=False)
        version = template.get("version")
        return ("session_started", {
            "session_id": record.session, "template": template_id,
            "template_version": str(version) if version is not None else None,
            "mode": data.get("mode", "av"), "elder": bool(data.get("elder", False)),
            **sale, "seq": record.seq})

    def _device_lost(self, record: Record) -> list[Event]:
        data = record.data
        device = str(data.get("device", ""))
        return [("fault", {"part": DEVICE_PARTS.get(device, device), "reason": "device_lost",
                           "message": str(data.get("reason", "gone")),
                           "session_id": record.session, "seq": record.seq})]

    def _selftest(self, record: Record) -> list[Event]:
        checks = record.data.get("checks") if isinstance(record.data.get("checks"), dict) else {}
        failed = sorted(name for name, c in checks.items()
                        if isinstance(c, dict) and not c.get("ok") and c.get("blocking"))
        out: list[Event] = [("selftest", {"ok": bool(record.data.get("ok")), "failed": failed,
                                          "checks": checks, "seq": record.seq})]
        for part in failed:
            if part not in self._failing:
                out.append(("fault", {"part": part, "reason": "selftest_failed",
                                      "message": str(checks[part].get("detail", "failed")),
                                      "session_id": None, "seq": record.seq}))
        self._failing = set(failed)
        return out

    def _record_refused(self, record: Record) -> list[Event]:
        data = record.data
        failed = data.get("failed") if isinstance(data.get("failed"), list) else []
        return [("record_refused", {"reason": str(data.get("reason", "")),
                                    "detail": str(data.get("detail", "")),
                                    "failed": [str(f) for f in failed], "seq": record.seq})]

    def _badge_refused(self, record: Record) -> list[Event]:
        data = {k: v for k, v in record.data.items()
                if k in ("node", "status", "type", "agent_code_hash", "badge")}
        return [("badge_refused", {"session_id": record.session, "node": "", "status": "",
                                   **data, "seq": record.seq})]

    def _disk_low(self, record: Record) -> list[Event]:
        data = record.data
        return [("disk_low", {"session_id": record.session, "node": data.get("node"),
                              "detail": str(data.get("detail", "")), "seq": record.seq})]
