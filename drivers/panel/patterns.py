"""What the panel's LEDs and buzzer do for each mode and signal (times in seconds, real time).

Kept apart from the driver so that the look and sound of the appliance is one readable table.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Blink:
    """Blink ``on_s`` seconds on, ``off_s`` seconds off; ``count`` times, or forever if None."""

    on_s: float
    off_s: float
    count: int | None = None

    @property
    def duration_s(self) -> float | None:
        """How long a finite pattern runs, in seconds; None for a pattern without end."""
        if self.count is None:
            return None
        return self.count * (self.on_s + self.off_s)


#: A steady output is a string; a blinking one is a :class:`Blink`.
Pattern = str | Blink
SOLID = "solid"
OFF = "off"

#: RECORD LED: lit while recording, blinking while paused.
REC_MODES: dict[str, Pattern] = {
    "off": OFF,
    "solid": SOLID,
    "blink": Blink(0.5, 0.5),
}

#: STATUS LED: solid online, slow blink when offline with a backlog to upload, fast blink on a
#: fault, a short flash once a second while busy (self-test, recovery, update).
STATUS_MODES: dict[str, Pattern] = {
    "online": SOLID,
    "offline_backlog": Blink(1.0, 1.0),
    "fault": Blink(0.1, 0.1),
    "off": OFF,
    "busy": Blink(0.1, 0.9),
}


@dataclass(frozen=True)
class Signal:
    """A transient signal: a buzzer pattern and LED patterns laid over the LEDs' modes."""

    buzzer: Blink | None
    status: Blink | None
    rec: Blink | None = None

    @property
    def duration_s(self) -> float:
        parts = [p.duration_s or 0.0 for p in (self.buzzer, self.status, self.rec) if p]
        return max(parts, default=0.0)


SIGNALS: dict[str, Signal] = {
    # NEXT refused (the step is not finished): two short beeps, two quick flashes.
    "refused": Signal(buzzer=Blink(0.1, 0.1, 2), status=Blink(0.1, 0.1, 2)),
    # Acknowledged: one short chirp, one flash.
    "ok": Signal(buzzer=Blink(0.08, 0.08, 1), status=Blink(0.08, 0.08, 1)),
    # A fault happened: three long beeps, fast blinking for a second.
    "fault": Signal(buzzer=Blink(0.3, 0.2, 3), status=Blink(0.1, 0.1, 5)),
    # The power-on self-test failed: one long tone, both LEDs blinking fast for two seconds.
    "selftest_failed": Signal(buzzer=Blink(1.0, 0.2, 1), status=Blink(0.1, 0.1, 10),
                              rec=Blink(0.1, 0.1, 10)),
}

#: locate(): both LEDs blink together, quarter-second phases, until the time is up.
LOCATE_PHASE_S = 0.25
