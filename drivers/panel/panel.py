"""The button and LED panel: RECORD, NEXT, REPLAY buttons, two LEDs and a buzzer (gpiozero).

Every edge is stamped on the appliance's :class:`~drivers.clock.Clock` (CLOCK_MONOTONIC, ns).
Buttons are active-low with the internal pull-up. Debouncing happens twice: gpiozero's
``bounce_time`` (lgpio filters in the library on a Pi) and here, in software, so that pin
backends without a debouncer (gpiozero's mock pins, for one) still give one press per press.
LED patterns and the buzzer run on gpiozero's own blink threads in real time.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from gpiozero import LED, Button, Buzzer
from gpiozero.exc import GPIOPinInUse, PinInvalidPin

from drivers.clock import Clock
from drivers.errors import BadDriverArgument, DriverError
from drivers.panel.base import BUTTONS, PanelEvent, PanelPins, check_pins, open_gpio_factory
from drivers.panel.patterns import (LOCATE_PHASE_S, OFF, REC_MODES, SIGNALS, SOLID,
                                    STATUS_MODES, Blink, Pattern)

log = logging.getLogger(__name__)

#: The age of an edge (from gpiozero's ticks) is trusted up to this many seconds.
_MAX_EDGE_AGE_S = 0.5


@dataclass
class _ButtonState:
    pressed: bool = False
    last_edge_ns: int | None = None
    pressed_at_ns: int = 0
    held: bool = False
    reconcile: threading.Timer | None = None


class Panel:
    """The panel on gpiozero devices built with ``pin_factory`` (lgpio on the Pi if None).

    ``hold_seconds``: how long RECORD must be held for the "hold" event; ``bounce_ms``: edges
    closer than this after an accepted edge are contact chatter. ``close_factory``: whether
    :meth:`close` closes the pin factory (default: only one the panel opened itself).

    The handler is called on gpiozero's callback threads (and the hold and debounce timers),
    one event at a time, in order; it must not call :meth:`close`.
    """

    def __init__(self, pins: PanelPins, clock: Clock, *, pin_factory: Any = None,
                 hold_seconds: float = 2.0, bounce_ms: int = 30,
                 close_factory: bool | None = None) -> None:
        try:
            check_pins(pins)
            if not 0 < hold_seconds <= 60:
                raise BadDriverArgument(f"hold_seconds={hold_seconds!r}: must be in (0, 60]")
            if (isinstance(bounce_ms, bool) or not isinstance(bounce_ms, int)
                    or not 0 <= bounce_ms <= 500):
                raise BadDriverArgument(f"bounce_ms={bounce_ms!r}: must be an int in [0, 500]")
        except BadDriverArgument:
            if close_factory and pin_factory is not None:
                pin_factory.close()
            raise
        self.pins = pins
        self._clock = clock
        self._hold_ns = int(hold_seconds * 1e9)
        self._bounce_ns = bounce_ms * 1_000_000
        self._owns_factory = pin_factory is None if close_factory is None else close_factory
        self._factory = open_gpio_factory() if pin_factory is None else pin_factory
        self._handler: Callable[[PanelEvent], None] | None = None
        self._event_lock = threading.RLock()   # taken before _out_lock, never after it
        self._out_lock = threading.RLock()
        self._closed = False
        self._states = {name: _ButtonState() for name in BUTTONS}
        self._modes = {"rec": "off", "status": "off"}
        self._overlay_tokens = {"rec": 0, "status": 0, "buzzer": 0}
        self._overlaid: set[str] = set()
        self._timers: set[threading.Timer] = set()
        self._devices: list[Any] = []
        try:
            bounce_s = bounce_ms / 1000 if bounce_ms else None
            self._buttons: dict[str, Button] = {
                name: self._make(Button, field, pull_up=True, bounce_time=bounce_s,
                                 hold_time=hold_seconds)
                for name, field in BUTTONS.items()}
            self._rec = self._make(LED, "rec_led")
            self._status = self._make(LED, "status_led")
            self._buzzer = self._make(Buzzer, "buzzer") if pins.buzzer is not None else None
            for name, button in self._buttons.items():
                button.when_pressed = partial(self._on_edge, name, True)
                button.when_released = partial(self._on_edge, name, False)
            self._buttons["RECORD"].when_held = self._on_held
        except BaseException:
            self._close_devices()
            if self._owns_factory:
                self._factory.close()
            raise

    def _make(self, cls: type, field: str, **kwargs: Any) -> Any:
        pin = getattr(self.pins, field)
        try:
            device = cls(pin, pin_factory=self._factory, **kwargs)
        except (GPIOPinInUse, PinInvalidPin) as e:
            raise BadDriverArgument(f"PanelPins.{field}={pin}: {e}") from e
        except Exception as e:
            raise DriverError(f"panel: cannot set up PanelPins.{field} on GPIO{pin}: {e}") from e
        self._devices.append(device)
        return device

    # -- events --------------------------------------------------------------------------------
    def set_handler(self, handler: Callable[[PanelEvent], None]) -> None:
        """Deliver every :class:`PanelEvent` to ``handler`` from now on (replaces the last one)."""
        with self._event_lock:
            self._handler = handler

    def _on_edge(self, name: str, pressed: bool) -> None:
        ts = self._clock.monotonic_ns() - self._edge_age_ns(name, pressed)
        with self._event_lock:
            state = self._states[name]
            if self._closed or state.pressed == pressed:
                return
            if state.last_edge_ns is not None and ts - state.last_edge_ns < self._bounce_ns:
                return  # chatter; the reconcile timer settles the final level
            self._accept(name, pressed, ts)

    def _accept(self, name: str, pressed: bool, ts: int) -> None:
        """Record an edge as an event (caller holds _event_lock) and deliver it."""
        state = self._states[name]
        state.pressed, state.last_edge_ns = pressed, ts
        events = [PanelEvent(name, "press" if pressed else "release", ts)]
        if pressed:
            state.pressed_at_ns, state.held = ts, False
        elif (name == "RECORD" and not state.held
              and ts - state.pressed_at_ns >= self._hold_ns):
            # Held long enough on the clock but gpiozero's real-time hold thread did not fire
            # (a simulated clock that jumps, or release just as the hold came due).
            state.held = True
            events.insert(0, PanelEvent(name, "hold", state.pressed_at_ns + self._hold_ns))
        if self._bounce_ns:
            if state.reconcile is not None:
                state.reconcile.cancel()
            state.reconcile = self._start_timer(self._bounce_ns / 1e9 + 0.005, self._reconcile,
                                                name)
        for event in events:
            self._deliver(event)

    def _reconcile(self, name: str) -> None:
        """After the bounce window: if chatter left the pin in the other state, report it."""
        with self._event_lock:
            state = self._states[name]
            if self._closed:
                return
            level = self._buttons[name].is_pressed
            if level != state.pressed:
                ts = self._clock.monotonic_ns() - self._edge_age_ns(name, level)
                self._accept(name, level, max(ts, state.last_edge_ns or 0))

    def _edge_age_ns(self, name: str, pressed: bool) -> int:
        """How long ago the button's last edge was, by gpiozero's ticks (lgpio stamps edges in
        the kernel, and reports them after its debounce time); 0 if the age is implausible."""
        button = self._buttons[name]
        age_s = button.active_time if pressed else button.inactive_time
        if age_s is None or not 0 <= age_s <= _MAX_EDGE_AGE_S:
            return 0
        return int(age_s * 1e9)

    def _on_held(self) -> None:
        now = self._clock.monotonic_ns()
        with self._event_lock:
            state = self._states["RECORD"]
            if self._closed or not state.pressed or state.held:
                return
            if now - state.pressed_at_ns < self._hold_ns - self._bounce_ns:
                return  # the appliance clock disagrees (simulated); the release will decide
            state.held = True
            self._deliver(PanelEvent("RECORD", "hold", now))

    def _deliver(self, event: PanelEvent) -> None:
        handler = self._handler
        if handler is None:
            log.debug("panel event without a handler: %s", event)
            return
        try:
            handler(event)
        except Exception:  # the handler's failure must not kill gpiozero's callback thread
            log.exception("panel event handler failed on %s", event)

    # -- outputs -------------------------------------------------------------------------------
    def rec_led(self, mode: str) -> None:
        """RECORD LED: "off", "solid" (recording) or "blink" (paused)."""
        self._set_mode("rec", mode, REC_MODES)

    def status(self, mode: str) -> None:
        """STATUS LED: "online" (solid), "offline_backlog" (slow blink), "fault" (fast blink),
        "busy" (short flash each second) or "off"."""
        self._set_mode("status", mode, STATUS_MODES)

    def _set_mode(self, target: str, mode: str, table: dict[str, Pattern]) -> None:
        if mode not in table:
            raise BadDriverArgument(f"{target} LED mode {mode!r}: one of {sorted(table)}")
        with self._out_lock:
            self._check_open()
            self._modes[target] = mode
            if target not in self._overlaid:
                self._show(target, table[mode])

    def signal(self, kind: str) -> None:
        """A transient buzzer + LED pattern: "refused", "ok", "fault" or "selftest_failed"."""
        if kind not in SIGNALS:
            raise BadDriverArgument(f"signal {kind!r}: one of {sorted(SIGNALS)}")
        sig = SIGNALS[kind]
        with self._out_lock:
            self._check_open()
            for target, pattern in (("buzzer", sig.buzzer), ("status", sig.status),
                                    ("rec", sig.rec)):
                if pattern is not None and (target != "buzzer" or self._buzzer is not None):
                    self._overlay(target, pattern, pattern.duration_s or 0.0)

    def locate(self, seconds: float = 10) -> None:
        """Blink both LEDs together for ``seconds`` so a technician finds the unit."""
        if not 0 < seconds <= 3600:
            raise BadDriverArgument(f"locate seconds={seconds!r}: must be in (0, 3600]")
        count = max(1, round(seconds / (2 * LOCATE_PHASE_S)))
        with self._out_lock:
            self._check_open()
            for target in ("rec", "status"):
                self._overlay(target, Blink(LOCATE_PHASE_S, LOCATE_PHASE_S, count), seconds)

    def _device(self, target: str) -> Any:
        return {"rec": self._rec, "status": self._status, "buzzer": self._buzzer}[target]

    def _show(self, target: str, pattern: Pattern) -> None:
        device = self._device(target)
        if pattern == OFF:
            device.off()
        elif pattern == SOLID:
            device.on()
        else:
            assert isinstance(pattern, Blink)
            device.blink(pattern.on_s, pattern.off_s, n=pattern.count, background=True)

    def _overlay(self, target: str, pattern: Blink, seconds: float) -> None:
        """Show ``pattern`` on ``target`` for ``seconds``, then its mode again."""
        self._overlay_tokens[target] += 1
        self._overlaid.add(target)
        self._show(target, pattern)
        self._start_timer(seconds, self._end_overlay, target, self._overlay_tokens[target])

    def _end_overlay(self, target: str, token: int) -> None:
        with self._out_lock:
            if self._closed or self._overlay_tokens[target] != token:
                return
            self._overlaid.discard(target)
            if target == "buzzer":
                self._show(target, OFF)
            else:
                table = REC_MODES if target == "rec" else STATUS_MODES
                self._show(target, table[self._modes[target]])

    def _start_timer(self, seconds: float, fn: Callable[..., None], *args: Any) -> threading.Timer:
        def run() -> None:
            with self._out_lock:
                self._timers.discard(timer)
            fn(*args)

        timer = threading.Timer(seconds, run)
        timer.daemon = True
        with self._out_lock:
            self._timers.add(timer)
        timer.start()
        return timer

    def _check_open(self) -> None:
        if self._closed:
            raise DriverError("panel is closed")

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Turn the outputs off and release the pins (and the pin factory if it was ours)."""
        with self._event_lock, self._out_lock:
            if self._closed:
                return
            self._closed = True
            timers = list(self._timers)
            self._timers.clear()
        for timer in timers:
            timer.cancel()
        self._close_devices()
        if self._owns_factory:
            self._factory.close()

    def _close_devices(self) -> None:
        first_error: BaseException | None = None
        for device in reversed(self._devices):
            try:
                if hasattr(device, "off"):
                    device.off()
                device.close()
            except Exception as e:  # close the rest, then report the first failure
                first_error = first_error or e
        self._devices.clear()
        if first_error is not None:
            raise DriverError(f"panel: closing a device failed: {first_error}") from first_error

    def __enter__(self) -> "Panel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
