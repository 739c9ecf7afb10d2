"""The evdev pad: a missing device, and a real virtual tablet made with uinput where possible."""
from __future__ import annotations

import os
import threading
import time

import pytest
from evdev import AbsInfo, UInput, UInputError, ecodes

from drivers.clock import SystemClock
from drivers.errors import DeviceMissingError
from drivers.sigpad import EvdevSignaturePad, PadInfo, PenSample
from drivers.sigpad.evdev_pad import EVIOCSCLOCKID

NAME = f"dualrec test tablet {os.getpid()}"
CAPS = {
    ecodes.EV_KEY: [ecodes.BTN_TOUCH, ecodes.BTN_TOOL_PEN, ecodes.BTN_STYLUS],
    ecodes.EV_ABS: [
        (ecodes.ABS_X, AbsInfo(value=0, min=0, max=9600, fuzz=0, flat=0, resolution=100)),
        (ecodes.ABS_Y, AbsInfo(value=0, min=0, max=6000, fuzz=0, flat=0, resolution=100)),
        (ecodes.ABS_PRESSURE, AbsInfo(value=0, min=0, max=1023, fuzz=0, flat=0, resolution=0)),
    ],
}


class Sink:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.samples: list[PenSample] = []
        self.ends: list[int] = []
        self.lost: list[tuple[int, str]] = []
        self.restored: list[int] = []

    def pen_sample(self, sample: PenSample) -> None:
        with self.cond:
            self.samples.append(sample)
            self.cond.notify_all()

    def stroke_ended(self, timestamp_ns: int) -> None:
        with self.cond:
            self.ends.append(timestamp_ns)
            self.cond.notify_all()

    def pad_lost(self, timestamp_ns: int, reason: str) -> None:
        with self.cond:
            self.lost.append((timestamp_ns, reason))
            self.cond.notify_all()

    def pad_restored(self, timestamp_ns: int) -> None:
        with self.cond:
            self.restored.append(timestamp_ns)
            self.cond.notify_all()

    def wait(self, predicate, timeout: float = 5.0) -> None:
        with self.cond:
            assert self.cond.wait_for(predicate, timeout)


def test_eviocsclockid_is_iow_e_a0_int() -> None:
    assert EVIOCSCLOCKID == 0x400445A0


def test_a_missing_device_path_is_named() -> None:
    with pytest.raises(DeviceMissingError, match="/dev/input/event987"):
        EvdevSignaturePad("/dev/input/event987", SystemClock())


def test_a_missing_device_name_is_named() -> None:
    with pytest.raises(DeviceMissingError, match="'No Such Signature Pad'"):
        EvdevSignaturePad("No Such Signature Pad", SystemClock())


def _virtual_tablet() -> UInput:
    if not os.access("/dev/uinput", os.W_OK):
        pytest.skip("/dev/uinput is not usable on this machine (no uinput module or no "
                    "permission; try `modprobe uinput`); the replay tests cover the parser")
    try:
        return UInput(CAPS, name=NAME, input_props=[ecodes.INPUT_PROP_DIRECT])
    except (OSError, UInputError) as e:
        pytest.skip(f"cannot create a uinput tablet: {e}")


def _sign(ui: UInput, points: list[tuple[int, int, int]]) -> None:
    for i, (x, y, p) in enumerate(points):
        if i == 0:
            ui.write(ecodes.EV_KEY, ecodes.BTN_TOOL_PEN, 1)
            ui.write(ecodes.EV_KEY, ecodes.BTN_TOUCH, 1)
        ui.write(ecodes.EV_ABS, ecodes.ABS_X, x)
        ui.write(ecodes.EV_ABS, ecodes.ABS_Y, y)
        ui.write(ecodes.EV_ABS, ecodes.ABS_PRESSURE, p)
        ui.syn()
        time.sleep(0.005)
    ui.write(ecodes.EV_ABS, ecodes.ABS_PRESSURE, 0)
    ui.write(ecodes.EV_KEY, ecodes.BTN_TOUCH, 0)
    ui.write(ecodes.EV_KEY, ecodes.BTN_TOOL_PEN, 0)
    ui.syn()


def test_signing_on_a_virtual_tablet_gives_monotonic_samples() -> None:
    ui = _virtual_tablet()
    clock = SystemClock()
    try:
        with EvdevSignaturePad(NAME, clock) as pad:
            assert pad.info == PadInfo(NAME, 0, 9600, 0, 6000, 1023, 100, 100)
            sink = Sink()
            pad.start(sink)
            before = clock.monotonic_ns()
            _sign(ui, [(1000 + 30 * i, 2000 + 10 * i, 300 + i) for i in range(20)])
            _sign(ui, [(3000 + 30 * i, 2500, 500) for i in range(10)])
            sink.wait(lambda: len(sink.ends) == 2)
            after = clock.monotonic_ns()
            down = [s for s in sink.samples if s.pen_down]
            assert len(down) == 30
            assert down[0] == PenSample(1000, 2000, 300, down[0].timestamp_ns, True)
            stamps = [s.timestamp_ns for s in sink.samples]
            # kernel timestamps, switched to CLOCK_MONOTONIC (CLOCK_REALTIME would be ~1.7e18)
            assert before <= stamps[0] and stamps[-1] <= after
            assert stamps == sorted(stamps)
            assert pad.health == "ok"
    finally:
        ui.close()


def test_unplugging_the_tablet_reports_loss_and_its_return() -> None:
    ui = _virtual_tablet()
    clock = SystemClock()
    pad = EvdevSignaturePad(NAME, clock, reconnect_s=0.1)
    sink = Sink()
    try:
        pad.start(sink)
        ui.write(ecodes.EV_KEY, ecodes.BTN_TOUCH, 1)
        ui.write(ecodes.EV_ABS, ecodes.ABS_X, 100)
        ui.syn()
        sink.wait(lambda: len(sink.samples) == 1)
        ui.close()  # unplugged with the pen down
        sink.wait(lambda: len(sink.lost) == 1)
        assert len(sink.ends) == 1 and sink.ends[0] <= sink.lost[0][0]
        assert pad.health == "lost"
        ui = UInput(CAPS, name=NAME, input_props=[ecodes.INPUT_PROP_DIRECT])
        sink.wait(lambda: len(sink.restored) == 1)
        assert pad.health == "ok"
        _sign(ui, [(500, 500, 100), (510, 505, 120)])
        sink.wait(lambda: len(sink.ends) == 2)
    finally:
        pad.close()
        ui.close()
