"""The reading tracker: every page of every document shown long enough, each showing reported."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.clock import SimClock
from firmware.unit.display.documents import Document
from firmware.unit.display.reading import ReadingTracker

A = Document("a" * 64, "投保提示书", 3, 5.0, b"")
B = Document("b" * 64, "保险条款", 2, 5.0, b"")
ZERO = Document("c" * 64, "责任免除条款", 2, 0.0, b"")


def tracker(*docs, **kwargs):
    clock = SimClock(realtime=False)
    pages = []
    return ReadingTracker(docs, clock, on_page=pages.append, **kwargs), clock, pages


def show(t, clock, doc, page, seconds):
    t.turn(doc.sha256, page)
    t.shown(doc.sha256, page)
    clock.advance(seconds)


def test_nothing_is_read_at_the_start():
    t, clock, _ = tracker(A, B)
    assert [(u.title, u.pages, u.unconfirmed) for u in t.unread()] == [
        ("投保提示书", (1, 2, 3), True), ("保险条款", (1, 2), True)]
    assert t.detail() == "《投保提示书》第 1–3 页未读；《保险条款》第 1–2 页未读"


def test_every_page_long_enough_and_confirmed_clears_the_refusal():
    t, clock, pages = tracker(A, B)
    for doc in (A, B):
        for page in range(1, doc.pages + 1):
            show(t, clock, doc, page, 5)
        assert t.confirm(doc.sha256)
    t.hidden()
    assert t.unread() == ()
    assert [(p.page, p.total_ms, p.read) for p in pages] == [(1, 5000, True), (2, 5000, True),
                                                            (3, 5000, True), (1, 5000, True),
                                                            (2, 5000, True)]
    assert pages[1].start_ns == pages[0].end_ns     # the unit's clock, back to back


def test_a_page_flipped_past_too_fast_stays_unread_and_time_adds_up():
    t, clock, pages = tracker(A)
    show(t, clock, A, 1, 5)
    show(t, clock, A, 2, 1)
    show(t, clock, A, 3, 5)
    assert t.detail() == "《投保提示书》第 2 页未读"
    assert not t.confirm(A.sha256)
    show(t, clock, A, 2, 4)              # back to page 2: 1 s + 4 s
    assert t.confirm(A.sha256)
    t.hidden()
    assert t.unread() == ()
    assert [p.read for p in pages if p.page == 2] == [False, True]


def test_time_counts_only_after_the_screen_reports_the_page_shown():
    t, clock, _ = tracker(A, require_confirmation=False)
    t.turn(A.sha256, 1)
    clock.advance(10)                    # asked for, but the image never arrived
    assert t.unread()[0].pages == (1, 2, 3)
    t.shown(A.sha256, 1)
    clock.advance(5)
    assert t.unread()[0].pages == (2, 3)  # the page on screen counts up to now


def test_a_late_shown_report_for_another_page_is_ignored():
    t, clock, _ = tracker(A)
    t.turn(A.sha256, 2)
    t.shown(A.sha256, 1)                 # the old page's late report
    clock.advance(9)
    assert t.unread()[0].pages == (1, 2, 3)


def test_the_screen_going_away_stops_the_count():
    t, clock, pages = tracker(A)
    show(t, clock, A, 1, 2)
    t.hidden()
    clock.advance(60)
    assert t.unread()[0].pages == (1, 2, 3)
    assert pages[-1].total_ms == 2000 and not pages[-1].read


def test_a_zero_minimum_still_needs_the_page_shown():
    t, clock, _ = tracker(ZERO, require_confirmation=False)
    assert t.unread()[0].pages == (1, 2)
    show(t, clock, ZERO, 1, 0)
    show(t, clock, ZERO, 2, 0)
    assert t.unread() == ()


def test_the_view_carries_read_marks_and_the_page_on_screen():
    t, clock, _ = tracker(A, B)
    show(t, clock, B, 2, 7)
    view = t.view()
    assert (view.current, view.page, view.page_shown_ms) == (1, 2, 7000)
    assert view.documents[1].read_pages == (2,) and view.documents[0].read_pages == ()


def test_pages_outside_the_documents_are_refused():
    t, clock, _ = tracker(A)
    with pytest.raises(ValueError, match="no page 4"):
        t.turn(A.sha256, 4)
    with pytest.raises(ValueError, match="not one of this node"):
        t.shown("d" * 64, 1)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(1, 3), st.integers(0, 7)), max_size=25))
def test_a_page_is_read_exactly_when_its_summed_time_reaches_the_minimum(steps):
    t, clock, _ = tracker(A, require_confirmation=False)
    total = {1: 0, 2: 0, 3: 0}
    for page, seconds in steps:
        show(t, clock, A, page, seconds)
        total[page] += seconds
    unread = t.unread()[0].pages if t.unread() else ()
    assert unread == tuple(p for p in (1, 2, 3) if total[p] < 5)
