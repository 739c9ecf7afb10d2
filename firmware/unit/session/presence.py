"""Who is in frame: the live analysis counts faces once a second; the sale says how many people
belong at the counter (the salesperson and the customers there). Fewer faces than that for
``missing_seconds`` or longer is ``person_missing``: an EVENT on the chain as it happens (and
``person_back`` when everyone is in frame again), and a finding with the time range at the end.

Recording never stops for it: the rule is that everyone stays in frame, and the evidence shows
when they did not.
"""
from __future__ import annotations

from dataclasses import dataclass

from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.quality import QualityFinding
from firmware.unit.session.session_end import VIDEO_SAMPLES

SAMPLE_NS = 1_000_000_000    # the live analysis samples once a second


@dataclass
class Absence:
    """A time when fewer people than expected were in frame."""

    start_ns: int
    last_ns: int              # the last sample that still saw too few
    fewest: int               # the fewest faces seen meanwhile
    node: str | None
    announced: bool = False
    end_ns: int | None = None

    def seconds(self, now_ns: int) -> float:
        return (now_ns - self.start_ns) / 1e9


class PresencePart(SessionPart):
    name = "presence"

    def __init__(self, missing_seconds: float) -> None:
        if missing_seconds <= 0:
            raise ValueError(f"missing_seconds={missing_seconds!r}: must be > 0")
        self._min_ns = int(missing_seconds * 1e9)
        self._expected: int | None = None
        self._seen = 0
        self._open: Absence | None = None
        self.absences: list[Absence] = []

    def session_started(self, ctx: SessionContext) -> None:
        b = ctx.binding
        self._expected = b.counter_people if b.mode == "av" else None
        self._seen, self._open, self.absences = 0, None, []

    def tick(self, ctx: SessionContext, node, now_ns: int) -> None:
        if self._expected is None:
            return
        samples = ctx.values.get(VIDEO_SAMPLES, [])
        while self._seen < len(samples):
            self._sample(ctx, samples[self._seen])
            self._seen += 1

    def _sample(self, ctx: SessionContext, sample: dict) -> None:
        t, faces = sample["t"], sample["faces"]
        gone = self._open
        if faces < self._expected:
            if gone is None:
                run = ctx.run
                gone = self._open = Absence(t, t, faces, run.id if run else None)
            gone.last_ns, gone.fewest = t, min(gone.fewest, faces)
            if not gone.announced and t + SAMPLE_NS - gone.start_ns >= self._min_ns:
                self._announce(ctx, gone, faces)
        elif gone is not None:   # not past the last sample's period: late samples are no proof
            self._close(ctx, end_ns=min(t, gone.last_ns + SAMPLE_NS))

    def _close(self, ctx: SessionContext, *, end_ns: int) -> None:
        gone, self._open = self._open, None
        gone.end_ns = end_ns
        if not gone.announced and end_ns - gone.start_ns >= self._min_ns:
            self._announce(ctx, gone, gone.fewest)
        if gone.announced:
            self.absences.append(gone)
            ctx.event("person_back", {"start_ns": gone.start_ns, "end_ns": end_ns,
                                      "expected": self._expected})

    def _announce(self, ctx: SessionContext, gone: Absence, seen: int) -> None:
        gone.announced = True
        ctx.event("person_missing", {"start_ns": gone.start_ns, "node": gone.node,
                                     "expected": self._expected, "seen": seen})

    def session_ending(self, ctx: SessionContext) -> None:
        if self._expected is None:
            return
        self.tick(ctx, None, 0)
        if self._open is not None:
            self._close(ctx, end_ns=self._open.last_ns + SAMPLE_NS)

    def findings(self, ctx: SessionContext) -> list[QualityFinding]:
        return [QualityFinding(
            "person_missing",
            f"{a.fewest} of {self._expected} people in frame for {a.seconds(a.end_ns):.0f} s",
            a.node, a.start_ns, a.end_ns) for a in self.absences]
