"""Wall time on the chain: a step of CLOCK_REALTIME, or a change of NTP sync, becomes a CLOCK
record, so wall times can be reconstructed and trusted only as far as they deserve."""
from __future__ import annotations

import logging

from drivers.clock import Clock, ClockWatch
from firmware.evidence.store import Evidence

log = logging.getLogger(__name__)


class ClockRecorder:
    """Call :meth:`check` about once a second (the daemon's main loop does)."""

    def __init__(self, evidence: Evidence, clock: Clock) -> None:
        self._evidence = evidence
        self._watch = ClockWatch(clock)
        self._synced: bool | None = None

    def check(self) -> None:
        sample, step = self._watch.check()
        if step is not None:
            log.warning("wall clock stepped by %.3f s", step.step_ns / 1e9)
            self._evidence.clock_record({
                "kind": "step", "step_ns": step.step_ns, "before": step.before.as_record(),
                "after": step.after.as_record()})
        if sample.sync.synced != self._synced:
            if self._synced is not None:
                self._evidence.clock_record({"kind": "sync_changed",
                                             "synced": sample.sync.synced,
                                             "sample": sample.as_record()})
            self._synced = sample.sync.synced
