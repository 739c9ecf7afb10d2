"""Choosing the panel backend by configuration: "gpio" (lgpio on the Pi) or "sim" (mock pins)."""
from __future__ import annotations

from drivers.clock import Clock
from drivers.errors import BadDriverArgument
from drivers.panel.base import PanelPins, open_gpio_factory
from drivers.panel.panel import Panel
from drivers.panel.sim import SimPanel


def open_panel(backend: str, *, pins: PanelPins, clock: Clock, hold_seconds: float = 2.0,
               bounce_ms: int = 30, chip: int | None = None) -> Panel:
    """Open the panel on ``backend``.

    "gpio": gpiozero's lgpio pin factory on ``/dev/gpiochip<chip>`` (gpiozero's choice if None);
    raises :class:`~drivers.errors.DeviceMissingError` naming the gpiochip when it cannot.
    "sim": a :class:`SimPanel` on gpiozero's MockFactory, with test controls.
    """
    if backend == "gpio":
        return Panel(pins, clock, pin_factory=open_gpio_factory(chip), close_factory=True,
                     hold_seconds=hold_seconds, bounce_ms=bounce_ms)
    if backend == "sim":
        return SimPanel(pins, clock, hold_seconds=hold_seconds, bounce_ms=bounce_ms)
    raise BadDriverArgument(f"panel backend {backend!r}: one of 'gpio', 'sim'")
