"""The unit seen from outside — the control socket's ``status``, the fleet agent's state and
telemetry, the watchdog — read-only, from what each part publishes: the flow's snapshot, the
recorder's health, the chain's head, the disk, the uplinks. Nobody outside reaches into the
flow, the recorder or the evidence through attributes; they ask here."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any, Callable

from firmware import __version__
from firmware.config.model import Config
from firmware.evidence.store import Evidence
from firmware.unit.recorder import Recorder
from firmware.unit.recording_gate import RecordingGate
from firmware.unit.session.binding import FlowSnapshot
from firmware.unit.session.flow import SessionFlow
from firmware.unit.session.selftest import SelfTest
from firmware.unit.uplinks import Uplinks


@dataclass(frozen=True)
class UnitState:
    """What the fleet shows as the unit's state: ``idle``, ``recording`` or ``fault``, and why."""

    state: str
    detail: str = ""


class UnitView:
    def __init__(self, *, config: Config, evidence: Evidence, recorder: Recorder,
                 flow: SessionFlow, selftest: SelfTest, gate: RecordingGate, uplinks: Uplinks,
                 simulated: bool, extra: Callable[[], dict[str, Any]] | None = None) -> None:
        self._config = config
        self._evidence = evidence
        self._recorder = recorder
        self._flow = flow
        self._selftest = selftest
        self._gate = gate
        self._uplinks = uplinks
        self._simulated = simulated
        self._extra = extra or (lambda: {})

    @property
    def flow(self) -> FlowSnapshot:
        return self._flow.snapshot

    @property
    def device_id(self) -> str:
        return self._evidence.device_id

    @property
    def recording(self) -> bool:
        return self._recorder.recording

    def device_health(self) -> dict[str, str]:
        return self._recorder.health()

    def chain_head(self) -> tuple[int, str]:
        head = self._evidence.head
        return (head.seq, head.hash) if head else (0, "")

    def damage(self) -> list[int]:
        """Unacknowledged DAMAGE records (recording is refused until a technician acks)."""
        return self._evidence.unacknowledged_damage()

    def recording_blocked(self) -> tuple[str, str] | None:
        """Why RECORD would be refused now (reason code, detail), or None."""
        return self._gate.blocked()

    def disk(self) -> shutil._ntuple_diskusage:
        return shutil.disk_usage(self._config.spool.path)

    def state(self) -> UnitState:
        snap = self._flow.snapshot
        if snap.state == "recording" and snap.session_id:
            lost = sorted(d for d, h in self.device_health().items() if h == "lost")
            return UnitState("recording", f"session {snap.session_id}"
                             + "".join(f"; {d} lost" for d in lost))
        if snap.state in ("fault", "selftest_failed"):
            last = self._selftest.last
            failed = last.failed if last else []
            return UnitState("fault", snap.state + (f": {', '.join(failed)}" if failed else ""))
        blocked = self._gate.blocked()
        if blocked:
            return UnitState("fault", f"{blocked[0]}: recording refused")
        broken = self._uplinks.failures()
        if broken:
            return UnitState("fault", "; ".join(f"{part}: {why}" for part, why in
                                                sorted(broken.items())))
        return UnitState("idle")

    def status(self) -> dict[str, Any]:
        snap = self._flow.snapshot
        seq, digest = self.chain_head()
        blocked = self._gate.blocked()
        last = self._selftest.last
        return {"device_id": self.device_id, "firmware": __version__,
                "state": snap.state, "session": snap.session_id, "node": snap.node,
                "template": snap.template, "health": self.device_health(),
                "uplinks": self._uplinks.health(),
                "chain_head": {"seq": seq, "hash": digest} if seq else None,
                "disk_free_bytes": self.disk().free,
                "simulated": self._simulated, "last_session": snap.last_summary,
                "selftest": last.as_record() if last else None,
                "damage_unacknowledged": self._evidence.unacknowledged_damage(),
                "recording_blocked": {"reason": blocked[0], "detail": blocked[1]}
                if blocked else None, **self._extra()}
