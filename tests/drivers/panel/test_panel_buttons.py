"""Panel buttons on gpiozero's MockFactory: one event per press, debouncing, the hold gesture."""
from __future__ import annotations

import threading
import time

import pytest
from gpiozero import Device

from drivers.clock import SimClock
from drivers.panel import PanelEvent, PanelPins, SimPanel, open_panel


class Recorder:
    """A panel handler that keeps the events (and the RECORD pin level when each arrived)."""

    def __init__(self, panel: SimPanel | None = None) -> None:
        self.events: list[PanelEvent] = []
        self.record_level: list[bool] = []
        self.panel = panel
        self.cond = threading.Condition()

    def __call__(self, event: PanelEvent) -> None:
        with self.cond:
            self.events.append(event)
            if self.panel is not None:
                self.record_level.append(self.panel.button_pin("RECORD").state)
            self.cond.notify_all()

    def kinds(self) -> list[tuple[str, str]]:
        return [(e.button, e.kind) for e in self.events]

    def wait_for(self, count: int, timeout: float = 2.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.events) >= count, timeout), self.kinds()


@pytest.fixture
def clock() -> SimClock:
    return SimClock(realtime=False)


@pytest.fixture
def panel(clock: SimClock):
    with open_panel("sim", pins=PanelPins(), clock=clock) as p:
        yield p


def test_each_press_is_one_press_and_one_release_stamped_on_the_clock(panel, clock) -> None:
    rec = Recorder()
    panel.set_handler(rec)
    t0 = clock.monotonic_ns()
    panel.press("NEXT", 0.1)
    panel.press("REPLAY", 0.25)
    panel.press("NEXT", 0.05)
    assert rec.kinds() == [("NEXT", "press"), ("NEXT", "release"), ("REPLAY", "press"),
                           ("REPLAY", "release"), ("NEXT", "press"), ("NEXT", "release")]
    stamps = [e.timestamp_ns - t0 for e in rec.events]
    assert stamps[0] == 0
    assert stamps[1] == 100_000_000
    assert stamps[3] - stamps[2] == 250_000_000
    assert stamps[5] - stamps[4] == 50_000_000
    assert stamps == sorted(stamps)


def test_buttons_are_active_low_with_pull_up(panel) -> None:
    pin = panel.button_pin("RECORD")
    assert pin.pull == "up" and pin.state  # idle high
    rec = Recorder()
    panel.set_handler(rec)
    pin.drive_low()
    assert rec.kinds() == [("RECORD", "press")]
    pin.drive_high()


def test_chatter_within_bounce_window_is_one_press(panel) -> None:
    rec = Recorder()
    panel.set_handler(rec)
    panel.bounce("NEXT", seconds=0.2, chatter=4)
    panel.bounce("REPLAY")
    time.sleep(0.1)  # let the reconcile timers run: they must add nothing
    assert rec.kinds() == [("NEXT", "press"), ("NEXT", "release"),
                           ("REPLAY", "press"), ("REPLAY", "release")]


def test_without_debouncing_chatter_shows(clock) -> None:
    with SimPanel(PanelPins(), clock, bounce_ms=0) as p:
        rec = Recorder()
        p.set_handler(rec)
        p.bounce("NEXT", chatter=3)
        assert rec.kinds().count(("NEXT", "press")) == 1 + 3 + 3  # closing and opening chatter


def test_brush_shorter_than_bounce_window_still_ends_in_release(panel, clock) -> None:
    rec = Recorder()
    panel.set_handler(rec)
    pin = panel.button_pin("NEXT")
    pin.drive_low()
    clock.advance(0.005)
    pin.drive_high()  # inside the window: not reported at once
    assert rec.kinds() == [("NEXT", "press")]
    rec.wait_for(2)   # the reconcile after the window reports the level
    assert rec.kinds() == [("NEXT", "press"), ("NEXT", "release")]
    assert rec.events[1].timestamp_ns >= rec.events[0].timestamp_ns


def test_holding_record_two_seconds_gives_one_hold_while_still_held() -> None:
    clock = SimClock(realtime=True)  # gpiozero's hold thread runs in real time
    with SimPanel(PanelPins(), clock) as p:
        rec = Recorder(p)
        p.set_handler(rec)
        p.hold("RECORD", 2.4)
        assert rec.kinds() == [("RECORD", "press"), ("RECORD", "hold"), ("RECORD", "release")]
        press, hold, release = rec.events
        assert rec.record_level[1] is False  # the hold came while the button was down
        assert abs((hold.timestamp_ns - press.timestamp_ns) / 1e9 - 2.0) < 0.15
        assert release.timestamp_ns - hold.timestamp_ns > 0.25e9


def test_short_press_of_record_is_no_hold() -> None:
    clock = SimClock(realtime=True)
    with SimPanel(PanelPins(), clock) as p:
        rec = Recorder()
        p.set_handler(rec)
        p.press("RECORD", 0.3)
        time.sleep(0.2)
        assert rec.kinds() == [("RECORD", "press"), ("RECORD", "release")]


def test_hold_on_a_simulated_clock_is_stamped_hold_seconds_after_the_press(panel, clock) -> None:
    rec = Recorder()
    panel.set_handler(rec)
    panel.hold("RECORD", 2.0)
    panel.press("RECORD", 1.9)
    assert rec.kinds() == [("RECORD", "press"), ("RECORD", "hold"), ("RECORD", "release"),
                           ("RECORD", "press"), ("RECORD", "release")]
    assert rec.events[1].timestamp_ns - rec.events[0].timestamp_ns == 2_000_000_000


def test_only_record_has_the_hold_gesture(panel) -> None:
    rec = Recorder()
    panel.set_handler(rec)
    panel.hold("NEXT", 3.0)
    panel.hold("REPLAY", 3.0)
    assert [k for _, k in rec.kinds()] == ["press", "release", "press", "release"]


def test_hold_seconds_is_configurable(clock) -> None:
    with SimPanel(PanelPins(), clock, hold_seconds=0.5) as p:
        rec = Recorder()
        p.set_handler(rec)
        p.hold("RECORD", 0.6)
        assert ("RECORD", "hold") in rec.kinds()


def test_a_failing_handler_does_not_stop_later_events(panel) -> None:
    seen: list[str] = []

    def handler(event: PanelEvent) -> None:
        seen.append(event.kind)
        raise RuntimeError("handler bug")

    panel.set_handler(handler)
    panel.press("NEXT")
    panel.press("NEXT")
    assert seen == ["press", "release", "press", "release"]


def test_no_events_after_close(clock) -> None:
    p = SimPanel(PanelPins(), clock)
    rec = Recorder()
    p.set_handler(rec)
    pin = p.button_pin("NEXT")
    p.close()
    pin.drive_low()
    pin.drive_high()
    assert rec.events == []


def test_the_global_pin_factory_is_left_alone(clock) -> None:
    before = Device.pin_factory
    with SimPanel(PanelPins(), clock) as a, SimPanel(PanelPins(), clock) as b:
        rec_a, rec_b = Recorder(), Recorder()
        a.set_handler(rec_a)
        b.set_handler(rec_b)
        a.press("NEXT")  # the same pin number on another factory: independent
        assert rec_b.events == [] and len(rec_a.events) == 2
    assert Device.pin_factory is before
