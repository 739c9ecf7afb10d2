"""The ``boot`` event: this run started, and how the run before it ended.

From the evidence: recovery's report at this start (whether the chain ended in a clean stop —
SHUTDOWN — or not, the sessions it had to close, damage, a torn last line) and the chain's
last record before this start; from the agent: the note a ``restart`` or ``reboot`` command
left before it ran (:mod:`firmware.unit.fleet.lifecycle`). Sessions recovery closed also get
their own ``session_ended`` (``interrupted``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware.config.model import Origin
from firmware.evidence import records
from firmware.evidence.chain import file_records, ledger_paths
from firmware.evidence.recovery import RecoveryReport
from firmware.protocol.mqtt.payloads import utc_iso


def previous_stop(recovery: RecoveryReport | None, note: dict[str, Any] | None) -> dict:
    """``boot.data.previous``: how the last run ended, in the contract's words."""
    head = recovery.health.head if recovery is not None and recovery.health else None
    closed = list(recovery.closed_sessions) if recovery else []
    command = note.get("command_id") if note else None
    if head is None:
        stop, message = "first_start", "the first start of this spool"
        command = None
    elif recovery.unclean_stop:
        stop = "unclean"
        message = ("the last run did not stop cleanly (power cut, crash or watchdog)"
                   + (f" while a {note['action']} command ({command}) was under way"
                      if note else ""))
    elif note:
        stop = f"{note['action']}_command"
        message = f"stopped cleanly for the {note['action']} command {command}"
    else:
        stop, message = "stopped", "stopped cleanly (the service was stopped, or a shutdown)"
        command = None
    if closed:
        message += f"; {len(closed)} session{'s' if len(closed) > 1 else ''} closed by recovery"
    last = None
    if head is not None:
        wall = head.body.get("wall_ns")
        last = {"seq": head.seq, "type": head.type,
                "ts": utc_iso(wall / 1e9) if isinstance(wall, int) else None}
    return {"stop": stop, "command_id": command, "interrupted_sessions": closed,
            "damage": len(recovery.damage) if recovery else 0,
            "torn_bytes": recovery.torn_bytes if recovery else 0,
            "last_record": last, "message": message}


def boot_data(recovery: RecoveryReport | None, note: dict[str, Any] | None, *, firmware: str,
              simulated: bool, origin: Origin) -> dict[str, Any]:
    """The ``boot`` event's data."""
    return {"firmware": firmware, "simulated": simulated,
            "previous": previous_stop(recovery, note),
            "config": {"set_config_version": origin.operational_version,
                       "bundle_serial": origin.bundle_serial, "refused": len(origin.refused)}}


def recovered_session_ends(spool_root: str | Path, sessions: list[str]) -> dict[str, int]:
    """The SESSION_END records recovery wrote at this start for ``sessions``: their sequence
    numbers, by session (read from the newest two ledger files, where recovery writes)."""
    wanted, found = set(sessions), {}
    if not wanted:
        return found
    for path in ledger_paths(spool_root)[-2:]:
        for record in file_records(path):
            if record.type == records.SESSION_END and record.session in wanted \
                    and record.data.get("closed_by") == "recovery":
                found[record.session] = record.seq
    return found
