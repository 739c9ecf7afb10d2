"""Panel LEDs and buzzer on mock pins, bad pins, the backends, close()."""
from __future__ import annotations

import os
import time

import pytest

from drivers.clock import SimClock
from drivers.errors import BadDriverArgument, DeviceMissingError, DriverError
from drivers.panel import PanelPins, SimPanel, open_panel


@pytest.fixture
def panel():
    with SimPanel(PanelPins(), SimClock(realtime=False)) as p:
        yield p


def test_rec_led_modes(panel) -> None:
    assert panel.led_state("rec") == "off"
    panel.rec_led("solid")
    assert panel.led_state("rec") == "on"
    assert panel.led_mode("rec", window=0.2) == "solid"
    pin = panel.led_pin("rec")
    pin.clear_states()
    panel.rec_led("blink")
    time.sleep(1.15)
    # gpiozero's blink thread: on (it already was), then 0.5 s on / 0.5 s off
    pin.assert_states_and_times([(0.0, True), (0.5, False), (0.5, True)])
    assert len(pin.states) == 3
    panel.rec_led("off")
    assert panel.led_mode("rec", window=0.2) == "off"


def test_status_led_modes(panel) -> None:
    panel.status("online")
    assert panel.led_mode("status", window=0.2) == "solid"
    pin = panel.led_pin("status")
    pin.clear_states()
    panel.status("fault")
    time.sleep(0.45)
    pin.assert_states_and_times([(0.0, True), (0.1, False), (0.1, True), (0.1, False),
                                 (0.1, True)])
    assert len(pin.states) == 5
    panel.status("busy")
    assert panel.led_mode("status", window=1.1) == "blink"
    panel.status("off")
    pin.clear_states()
    panel.status("offline_backlog")
    time.sleep(1.1)
    pin.assert_states_and_times([(0.0, False), (0.0, True), (1.0, False)])
    panel.status("off")
    assert panel.led_state("status") == "off"


def test_unknown_modes_are_refused(panel) -> None:
    with pytest.raises(BadDriverArgument, match="recording"):
        panel.rec_led("recording")
    with pytest.raises(BadDriverArgument, match="'offline'"):
        panel.status("offline")
    with pytest.raises(BadDriverArgument, match="beep"):
        panel.signal("beep")
    with pytest.raises(BadDriverArgument):
        panel.locate(0)


def test_refused_beeps_twice_and_the_status_led_comes_back(panel) -> None:
    panel.status("online")
    buzzer = panel.led_pin("buzzer")
    buzzer.clear_states()
    panel.signal("refused")
    time.sleep(0.55)
    buzzer.assert_states_and_times([(0.0, False), (0.0, True), (0.1, False), (0.1, True),
                                    (0.1, False)])
    assert len(buzzer.states) == 5
    assert panel.led_state("buzzer") == "off"
    assert panel.led_state("status") == "on"  # restored to "online" after the flashes


def test_every_signal_plays(panel) -> None:
    for kind in ("ok", "fault", "selftest_failed"):  # each replaces the one before
        panel.signal(kind)
        time.sleep(0.04)
        assert panel.led_state("buzzer") == "on", kind
    time.sleep(2.1)  # the longest signal is over: everything back to its mode ("off")
    assert [panel.led_state(n) for n in ("rec", "status", "buzzer")] == ["off"] * 3


def test_a_panel_without_buzzer_signals_with_its_led() -> None:
    with SimPanel(PanelPins(buzzer=None), SimClock(realtime=False)) as p:
        status = p.led_pin("status")
        status.clear_states()
        p.signal("refused")
        time.sleep(0.3)
        assert [s.state for s in status.states][:3] == [False, True, False]
        with pytest.raises(BadDriverArgument):
            p.led_pin("buzzer")


def test_locate_blinks_both_leds_then_restores_them(panel) -> None:
    panel.rec_led("solid")
    panel.status("off")
    panel.locate(1.0)
    rec, status = panel.led_pin("rec"), panel.led_pin("status")
    rec.clear_states()
    status.clear_states()
    time.sleep(0.6)
    assert len(rec.states) >= 3 and len(status.states) >= 3  # both blinking
    panel.status("online")  # a mode set during locate waits for its end
    time.sleep(0.6)
    assert panel.led_state("rec") == "on"
    assert panel.led_state("status") == "on"
    assert panel.led_mode("rec", window=0.3) == "solid"


@pytest.mark.parametrize("pins, named", [
    (PanelPins(next=17), "GPIO17"),
    (PanelPins(rec_led=-1), "rec_led=-1"),
    (PanelPins(buzzer=40), "buzzer=40"),
    (PanelPins(replay="22"), "replay='22'"),  # type: ignore[arg-type]
    (PanelPins(status_led=24, buzzer=24), "GPIO24"),
])
def test_bad_pins_are_refused_naming_the_pin(pins, named) -> None:
    with pytest.raises(BadDriverArgument, match=named):
        SimPanel(pins, SimClock(realtime=False))


def test_bad_timing_arguments_are_refused() -> None:
    with pytest.raises(BadDriverArgument, match="hold_seconds"):
        SimPanel(PanelPins(), SimClock(), hold_seconds=0)
    with pytest.raises(BadDriverArgument, match="bounce_ms"):
        SimPanel(PanelPins(), SimClock(), bounce_ms=-5)


def test_close_is_safe_twice_and_turns_outputs_off() -> None:
    p = SimPanel(PanelPins(), SimClock(realtime=False))
    p.rec_led("solid")
    p.status("fault")
    p.signal("fault")
    rec, status = p.led_pin("rec"), p.led_pin("status")
    p.close()
    p.close()
    assert not rec.state and not status.state
    with pytest.raises(DriverError, match="closed"):
        p.rec_led("solid")


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(BadDriverArgument, match="'pigpio'"):
        open_panel("pigpio", pins=PanelPins(), clock=SimClock())


@pytest.mark.skipif(os.path.exists("/dev/gpiochip0"), reason="this machine has a gpiochip")
def test_gpio_backend_without_a_gpiochip_names_it() -> None:
    with pytest.raises(DeviceMissingError, match="gpiochip"):
        open_panel("gpio", pins=PanelPins(), clock=SimClock())
    with pytest.raises(DeviceMissingError, match="/dev/gpiochip3"):
        open_panel("gpio", pins=PanelPins(), clock=SimClock(), chip=3)
