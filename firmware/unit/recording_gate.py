"""Whether RECORD may start (and a recording go on): evidence damage nobody acknowledged, or
too little disk. Sealed evidence that is not yet uploaded is never deleted to make room."""
from __future__ import annotations

from firmware.evidence.store import Evidence
from firmware.unit.sync.retention import disk_status

#: ``(reason code, detail)``: the code goes on the chain and to the fleet, the detail to people
Blocked = tuple[str, str]


class RecordingGate:
    """Free space is the spool's disk against ``[spool] min_free_mb`` (the reserve that also
    closes a session cleanly when a recording fills the disk)."""

    def __init__(self, evidence: Evidence, spool_path: str, min_free_mb: int) -> None:
        self._evidence = evidence
        self._spool_path = spool_path
        self._reserve = min_free_mb * 2**20

    def blocked(self) -> Blocked | None:
        damage = self._evidence.unacknowledged_damage()
        if damage:
            return ("evidence_damaged", f"evidence damage recorded in DAMAGE record(s) "
                    f"{', '.join(map(str, damage))}; a technician acknowledges it with "
                    "`dualrec damage ack`")
        disk = self.storage_blocked()
        return ("storage", disk) if disk else None

    def storage_blocked(self) -> str | None:
        d = disk_status(self._spool_path, self._reserve)
        if not d.low:
            return None
        return (f"disk low: {d.free_bytes // 2**20} MiB free, {d.min_free_bytes // 2**20} MiB "
                "must stay free; recording refused until evidence is uploaded")
