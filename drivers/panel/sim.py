"""The simulated panel: the real gpiozero devices on gpiozero's MockFactory, with test controls.

Button controls take their time from the panel's clock (``clock.sleep_until_ns``), so with a
``SimClock(realtime=False)`` a 2 s hold costs no real time; LED and buzzer patterns run on
gpiozero's blink threads in real time, and the LED observers wait in real time.
"""
from __future__ import annotations

import time

from gpiozero.pins.mock import MockFactory, MockPin, PinState

from drivers.clock import Clock
from drivers.errors import BadDriverArgument
from drivers.panel.base import BUTTONS, PanelPins
from drivers.panel.panel import Panel

#: Time between two chatter edges in :meth:`SimPanel.bounce`, seconds (clock time).
CHATTER_STEP_S = 0.002


class SimPanel(Panel):
    """A :class:`Panel` whose pins are gpiozero mock pins (its own MockFactory, not the global).

    Test controls: :meth:`press`, :meth:`hold`, :meth:`bounce` drive the button pins (active-low:
    low is pressed), :meth:`button_pin` gives a pin to drive by hand; :meth:`led_state`,
    :meth:`led_mode`, :meth:`led_pin`, :meth:`output_history` read the LEDs and the buzzer.
    """

    def __init__(self, pins: PanelPins, clock: Clock, *, hold_seconds: float = 2.0,
                 bounce_ms: int = 30) -> None:
        super().__init__(pins, clock, pin_factory=MockFactory(), close_factory=True,
                         hold_seconds=hold_seconds, bounce_ms=bounce_ms)
        self._mock_pins: dict[str, MockPin] = {name: b.pin for name, b in self._buttons.items()}
        self._mock_pins["rec"] = self._rec.pin
        self._mock_pins["status"] = self._status.pin
        if self._buzzer is not None:
            self._mock_pins["buzzer"] = self._buzzer.pin

    # -- buttons -------------------------------------------------------------------------------
    def press(self, button: str, seconds: float = 0.1) -> None:
        """Press ``button`` for ``seconds`` of clock time: its pin low, then high again."""
        pin = self.button_pin(button)
        self._settle(button)
        pin.drive_low()
        self._wait(seconds)
        pin.drive_high()

    def hold(self, button: str, seconds: float) -> None:
        """Hold ``button`` down for ``seconds`` of clock time (RECORD for 2 s: the stop gesture)."""
        if seconds <= 0:
            raise BadDriverArgument(f"hold seconds={seconds!r}: must be > 0")
        self.press(button, seconds)

    def bounce(self, button: str, seconds: float = 0.1, chatter: int = 3) -> None:
        """One press of ``seconds`` whose closing and opening each chatter ``chatter`` times,
        ``CHATTER_STEP_S`` apart (all inside the default 30 ms bounce window)."""
        pin = self.button_pin(button)
        self._settle(button)
        pin.drive_low()
        for _ in range(chatter):
            self._wait(CHATTER_STEP_S)
            pin.drive_high()
            self._wait(CHATTER_STEP_S)
            pin.drive_low()
        self._wait(seconds)
        pin.drive_high()
        for _ in range(chatter):
            self._wait(CHATTER_STEP_S)
            pin.drive_low()
            self._wait(CHATTER_STEP_S)
            pin.drive_high()

    def button_pin(self, button: str) -> MockPin:
        """The mock pin of "RECORD", "NEXT" or "REPLAY", to drive edges by hand."""
        if button not in BUTTONS:
            raise BadDriverArgument(f"button {button!r}: one of {sorted(BUTTONS)}")
        return self._mock_pins[button]

    def _settle(self, button: str) -> None:
        """A finger cannot press again inside the bounce window of the button's last edge:
        wait (clock time) until it has passed, so back-to-back presses are two presses."""
        with self._event_lock:
            last = self._states[button].last_edge_ns
        if last is not None:
            self._clock.sleep_until_ns(last + self._bounce_ns + 1_000_000)

    def _edge_age_ns(self, name: str, pressed: bool) -> int:
        """Mock pins call back inside drive_low/drive_high: the edge is the clock's now."""
        return 0

    def _wait(self, seconds: float) -> None:
        self._clock.sleep_until_ns(self._clock.monotonic_ns() + int(seconds * 1e9))

    # -- outputs -------------------------------------------------------------------------------
    def led_pin(self, name: str) -> MockPin:
        """The mock pin of "rec", "status" or "buzzer" (``states``, ``assert_states_and_times``)."""
        if name not in ("rec", "status", "buzzer") or name not in self._mock_pins:
            outputs = sorted(set(self._mock_pins) - set(BUTTONS))
            raise BadDriverArgument(f"output {name!r}: one of {outputs}")
        return self._mock_pins[name]

    def led_state(self, name: str) -> str:
        """"on" or "off": the level of the output's pin right now."""
        return "on" if self.led_pin(name).state else "off"

    def led_mode(self, name: str, window: float = 1.1) -> str:
        """"off", "solid" or "blink", from watching the pin for ``window`` real seconds.

        ``window`` must be longer than the longest phase of the pattern (1 s for the slow blink).
        """
        pin = self.led_pin(name)
        before = len(pin.states)
        time.sleep(window)
        if len(pin.states) != before:
            return "blink"
        return "solid" if pin.state else "off"

    def output_history(self, name: str) -> list[PinState]:
        """The pin's (seconds since previous change, state) list since it was last cleared."""
        return list(self.led_pin(name).states)

