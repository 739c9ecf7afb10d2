"""EventParser on hand-built event sequences, as the kernel sends them for a pen tablet."""
from __future__ import annotations

from evdev import ecodes as e

from drivers.sigpad import EventParser, PadInfo, PenSample, RawEvent, StrokeEnd

INFO = PadInfo("test pad", 0, 10000, 0, 6000, 1023, 40, 40)
MS = 1_000_000


def syn(t: int) -> RawEvent:
    return RawEvent(e.EV_SYN, e.SYN_REPORT, 0, t)


def ab(code: int, value: int, t: int) -> RawEvent:
    return RawEvent(e.EV_ABS, code, value, t)


def key(code: int, value: int, t: int) -> RawEvent:
    return RawEvent(e.EV_KEY, code, value, t)


def test_pen_down_move_pressure_only_and_up() -> None:
    p = EventParser(INFO)
    out = p.feed_all([
        key(e.BTN_TOOL_PEN, 1, 0), key(e.BTN_TOUCH, 1, 0), ab(e.ABS_X, 100, 0),
        ab(e.ABS_Y, 200, 0), ab(e.ABS_PRESSURE, 300, 0), syn(0),
        ab(e.ABS_X, 110, 5 * MS), syn(5 * MS),
        ab(e.ABS_PRESSURE, 350, 10 * MS), syn(10 * MS),          # pressure only
        ab(e.ABS_PRESSURE, 0, 15 * MS), key(e.BTN_TOUCH, 0, 15 * MS), syn(15 * MS),
        key(e.BTN_TOOL_PEN, 0, 20 * MS), syn(20 * MS),           # out of proximity
    ])
    assert out == [
        PenSample(100, 200, 300, 0, True),
        PenSample(110, 200, 300, 5 * MS, True),
        PenSample(110, 200, 350, 10 * MS, True),
        PenSample(110, 200, 0, 15 * MS, False),
        StrokeEnd(15 * MS),
    ]
    assert not p.pen_down


def test_nothing_is_emitted_before_syn_report() -> None:
    p = EventParser(INFO)
    assert p.feed_all([key(e.BTN_TOUCH, 1, 0), ab(e.ABS_X, 5, 0), ab(e.ABS_Y, 6, 0)]) == []
    assert p.feed(syn(0)) == [PenSample(5, 6, 0, 0, True)]


def test_hovering_pen_gives_samples_but_no_stroke() -> None:
    p = EventParser(INFO)
    out = p.feed_all([key(e.BTN_TOOL_PEN, 1, 0), ab(e.ABS_X, 10, 0), ab(e.ABS_Y, 20, 0), syn(0),
                      ab(e.ABS_X, 15, 5 * MS), syn(5 * MS),
                      key(e.BTN_TOOL_PEN, 0, 9 * MS), syn(9 * MS)])
    assert out == [PenSample(10, 20, 0, 0, False), PenSample(15, 20, 0, 5 * MS, False)]


def test_a_pad_without_btn_touch_is_down_while_pressed() -> None:
    p = EventParser(INFO)
    out = p.feed_all([ab(e.ABS_X, 1, 0), ab(e.ABS_Y, 2, 0), syn(0),          # no pressure: up
                      ab(e.ABS_PRESSURE, 40, 5 * MS), syn(5 * MS),
                      ab(e.ABS_X, 3, 10 * MS), syn(10 * MS),
                      ab(e.ABS_PRESSURE, 0, 15 * MS), syn(15 * MS)])
    assert out == [PenSample(1, 2, 40, 5 * MS, True), PenSample(3, 2, 40, 10 * MS, True),
                   PenSample(3, 2, 0, 15 * MS, False), StrokeEnd(15 * MS)]


def test_a_frame_whose_syn_is_missing_is_closed_by_the_next_frame() -> None:
    p = EventParser(INFO)
    out = p.feed_all([key(e.BTN_TOUCH, 1, 0), ab(e.ABS_X, 10, 0), ab(e.ABS_Y, 20, 0),
                      # no SYN_REPORT here
                      ab(e.ABS_X, 30, 5 * MS), syn(5 * MS)])
    assert out == [PenSample(10, 20, 0, 0, True), PenSample(30, 20, 0, 5 * MS, True)]


def test_an_unfinished_frame_at_the_end_is_dropped_and_the_stroke_ended() -> None:
    p = EventParser(INFO)
    assert p.feed_all([key(e.BTN_TOUCH, 1, 0), ab(e.ABS_X, 10, 0), syn(0)]) == [
        PenSample(10, 0, 0, 0, True)]
    assert p.feed_all([ab(e.ABS_X, 12, 5 * MS)]) == []
    assert p.flush(7 * MS) == [StrokeEnd(7 * MS)]
    assert p.flush(8 * MS) == []


def test_events_after_syn_dropped_are_discarded_up_to_the_next_report() -> None:
    p = EventParser(INFO)
    out = p.feed_all([key(e.BTN_TOUCH, 1, 0), ab(e.ABS_X, 10, 0), syn(0),
                      RawEvent(e.EV_SYN, e.SYN_DROPPED, 0, 5 * MS),
                      ab(e.ABS_X, 999, 5 * MS), syn(5 * MS),
                      ab(e.ABS_X, 20, 10 * MS), syn(10 * MS)])
    assert out == [PenSample(10, 0, 0, 0, True), PenSample(20, 0, 0, 10 * MS, True)]


def test_other_events_are_ignored() -> None:
    p = EventParser(INFO)
    out = p.feed_all([RawEvent(e.EV_MSC, e.MSC_SERIAL, 1234, 0), syn(0),
                      key(e.BTN_STYLUS, 1, 1 * MS), ab(e.ABS_TILT_X, 5, 1 * MS), syn(1 * MS)])
    assert out == []


def test_two_strokes_give_two_stroke_ends() -> None:
    p = EventParser(INFO)
    events = []
    for i, t0 in enumerate((0, 100 * MS)):
        events += [key(e.BTN_TOUCH, 1, t0), ab(e.ABS_X, 100 * i + 1, t0), syn(t0),
                   ab(e.ABS_X, 100 * i + 2, t0 + 5 * MS), syn(t0 + 5 * MS),
                   key(e.BTN_TOUCH, 0, t0 + 10 * MS), syn(t0 + 10 * MS)]
    out = p.feed_all(events)
    assert [o for o in out if isinstance(o, StrokeEnd)] == [StrokeEnd(10 * MS),
                                                             StrokeEnd(110 * MS)]
    assert sum(isinstance(o, PenSample) and o.pen_down for o in out) == 4
