"""What the panel is: its pins, its events, checking the wiring, opening the GPIO chip."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from drivers.errors import BadDriverArgument, DeviceMissingError

#: The highest BCM GPIO number on the Raspberry Pi's 40-pin header.
MAX_BCM_PIN = 27
#: Button name -> the PanelPins field that holds its pin.
BUTTONS = {"RECORD": "record", "NEXT": "next", "REPLAY": "replay"}


@dataclass(frozen=True)
class PanelPins:
    """BCM pin numbers of the panel; ``buzzer=None`` for a panel without a buzzer."""

    record: int = 17
    next: int = 27
    replay: int = 22
    rec_led: int = 23
    status_led: int = 24
    buzzer: int | None = 25


@dataclass(frozen=True)
class PanelEvent:
    """One button event.

    ``button`` is "RECORD", "NEXT" or "REPLAY"; ``kind`` is "press", "release" or "hold" (RECORD
    held for ``hold_seconds``: the stop gesture); ``timestamp_ns`` is CLOCK_MONOTONIC at the edge
    (for "hold": when the button had been held long enough).
    """

    button: str
    kind: str
    timestamp_ns: int


def check_pins(pins: PanelPins) -> None:
    """Raise :class:`BadDriverArgument` naming the pin if ``pins`` cannot be wired up."""
    seen: dict[int, str] = {}
    for field in fields(pins):
        pin = getattr(pins, field.name)
        if pin is None and field.name == "buzzer":
            continue
        if isinstance(pin, bool) or not isinstance(pin, int):
            raise BadDriverArgument(f"PanelPins.{field.name}={pin!r}: a BCM pin number is needed")
        if not 0 <= pin <= MAX_BCM_PIN:
            raise BadDriverArgument(f"PanelPins.{field.name}={pin}: not a BCM pin of the 40-pin "
                                    f"header (0-{MAX_BCM_PIN})")
        if pin in seen:
            raise BadDriverArgument(f"PanelPins.{field.name}={pin}: GPIO{pin} is already used by "
                                    f"PanelPins.{seen[pin]}")
        seen[pin] = field.name


def open_gpio_factory(chip: int | None = None) -> Any:
    """gpiozero's lgpio pin factory on ``/dev/gpiochip<chip>`` (gpiozero picks the chip if None).

    Raises :class:`DeviceMissingError` naming the gpiochip when it cannot be opened.
    """
    where = (f"/dev/gpiochip{chip}" if chip is not None
             else "/dev/gpiochip0 (/dev/gpiochip4 on a Raspberry Pi 5)")
    try:
        from gpiozero.pins.lgpio import LGPIOFactory
    except ImportError as e:
        raise DeviceMissingError(f"panel: cannot open {where}: the lgpio library is missing "
                                 f"(Raspberry Pi OS: apt install python3-lgpio)") from e
    try:
        return LGPIOFactory(chip=chip)
    except Exception as e:  # lgpio.error, PinUnknownPi, OSError: all mean no usable gpiochip
        raise DeviceMissingError(f"panel: cannot open {where}: {e}") from e
