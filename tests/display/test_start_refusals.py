"""A refused RECORD on the customer's screen (issue 13): the reason in words a salesperson acts
on, heard from the chain (the flow's EVENT ``record_refused``), shown between sessions for
SHOW_SECONDS on the unit's clock or until the next RECORD, and recorded like every screen
change — and never the ticket's names or ID numbers.

The view is checked on its own; the screen part with a real DisplayServer (not started:
published views are kept), a real Evidence store whose record listener feeds the screen, and
real tickets refused by the real checker."""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from drivers.clock import SimClock
from firmware.evidence import canonical
from firmware.evidence.chain import chain_records
from firmware.evidence.keys import DeviceKey
from firmware.evidence.store import Evidence
from firmware.ticket import TicketChecker, encode_ticket, ticket_from_spec
from firmware.ticket.check import UnitScope
from firmware.ticket.errors import DISPLAY, REASONS
from firmware.ticket.used import UsedTickets
from firmware.unit.display.screen_inbox import ScreenInbox
from firmware.unit.display.screen_part import ScreenPart
from firmware.unit.display.server import DisplayServer
from firmware.unit.display.session_view import idle_view
from firmware.unit.display.start_refusals import (SHOW_SECONDS, StartRefusal, StartRefusals,
                                                  start_words)
from firmware.unit.session.binding import FlowSnapshot

from .screen_flow import quick_library

NAME = "王建国"
ID_NUMBER = "310115197503071236"
SPEC = {
    "application_number": "TB31012025061500017", "insurer": "示例人寿保险股份有限公司",
    "product": {"name": "示例安享年金保险", "kind": "annuity", "returns": "fixed",
                "premium_yuan": "12000", "frequency": "annual", "payment_years": 10,
                "insurance_period": {"to_age": 88}, "cooling_off_days": 15},
    "people": [{"role": role, "name": NAME, "id_type": "resident_id", "id_number": ID_NUMBER,
                "gender": "M"} for role in ("policyholder", "insured")],
    "staff_id": "S0001", "mode": "av", "valid_hours": 8}


# -- the words and the view ---------------------------------------------------------------------
def test_every_ticket_reason_and_start_refusal_has_words_to_act_on():
    for reason in REASONS:
        assert start_words(f"ticket_{reason}") == DISPLAY[reason]
    assert "已过期" in start_words("ticket_expired")
    assert "已使用" in start_words("ticket_reused")
    assert "不是为本网点" in start_words("ticket_wrong_unit")
    assert "签名无效" in start_words("ticket_forged")
    assert "对准摄像头" in start_words("no_ticket")
    assert "存储空间" in start_words("storage")
    assert "运维" in start_words("evidence_damaged") and "模板" in start_words("no_script")
    assert "摄像头、麦克风" in start_words("selftest", ["camera", "microphone"])
    assert "语音" in start_words("selftest", ["voice"])
    # a check name that is not an identifier is not shown; the words still say what to do
    assert "<" not in start_words("selftest", ["<script>", 7, "disk"])
    assert "原因代码 brand_new" in start_words("brand_new")   # never silently blank
    assert "Ticket" not in start_words("Ticket Expired") and "?" in start_words("Ticket Expired")


def test_the_idle_view_shows_a_refusal_of_record_instead_of_the_state():
    refusal = StartRefusal("ticket_expired", start_words("ticket_expired"), 5)
    view = idle_view(FlowSnapshot(), refusal)
    assert view.state == "refused" and view.status == DISPLAY["expired"] and view.hint == ""
    assert view.parts()["state"] == {"state": "refused", "status": DISPLAY["expired"],
                                     "hint": "", "elder": False}
    # it also takes the place of a failed self-test's words: it answers the press just made
    assert idle_view(FlowSnapshot(state="selftest_failed"), refusal).state == "refused"
    assert idle_view(FlowSnapshot(), None).state == "idle"


# -- the screen part, fed from a real chain -----------------------------------------------------
class IdleScreen:
    """The screen part between sessions, with the chain's records heard by its refusals."""

    def __init__(self, tmp_path) -> None:
        self.clock = SimClock(realtime=False)
        self.refusals = StartRefusals(self.clock)
        self.evidence = Evidence.open(tmp_path / "spool", DeviceKey.generate(), self.clock,
                                      on_record=self.refusals.on_record)
        self.inbox = ScreenInbox()
        self.server = DisplayServer("127.0.0.1:0", quick_library(tmp_path / "docs"),
                                    self.inbox.input, clock=self.clock,
                                    on_change=self.inbox.change)
        self.snapshot = FlowSnapshot()
        self.part = ScreenPart(self.server, self.server.documents, self.inbox, self.clock,
                               snapshot=lambda: self.snapshot, refusals=self.refusals,
                               event=self.evidence.event)
        self.views = []

    def idle(self) -> None:
        """The flow's tick between sessions."""
        self.part.idle(self.clock.monotonic_ns())
        if not self.views or self.views[-1] is not self.server.view:
            self.views.append(self.server.view)

    def press_record(self, reason: str | None = None, **detail) -> None:
        """RECORD pressed and, with ``reason``, refused as the flow does (flow._refuse_start)."""
        self.evidence.event("press", {"button": "RECORD", "gesture": "press",
                                      "at_ns": self.clock.monotonic_ns()})
        if reason is not None:
            self.evidence.event("record_refused", {"reason": reason, **detail})
        self.idle()

    def screen_records(self) -> list[dict]:
        return [r.data for r in chain_records(self.evidence.spool.root)
                if r.type == "EVENT" and r.data["kind"] == "screen"]

    def close(self) -> None:
        self.server.close()
        self.evidence.close()


@pytest.fixture
def screen(tmp_path):
    s = IdleScreen(tmp_path)
    yield s
    s.close()


def _refused_ticket(now: dt.datetime, used, case: str) -> tuple[str, str]:
    """A real ticket refused by the real checker: (the flow's reason, the checker's message)."""
    sales = DeviceKey.generate()
    key, spec, issued = sales, {**SPEC, "scope": {"devices": ["dr-this-unit"]}}, now
    if case == "forged":
        key = DeviceKey.generate()
    elif case == "expired":
        spec, issued = {**spec, "valid_hours": 1}, now - dt.timedelta(hours=3)
    elif case == "wrong_unit":
        spec = {**spec, "scope": {"devices": ["dr-another-unit"]}}
    text = encode_ticket(ticket_from_spec(spec, issued), key.sign, key.public)
    checker = TicketChecker([sales.public], UnitScope("dr-this-unit"), used)
    if case == "reused":
        assert checker.result(text, now, bind=True).ok
    result = checker.result(text, now, bind=True)
    assert not result.ok
    return "ticket_" + result.status, result.message


@pytest.mark.parametrize("case, words", [("expired", "已过期"), ("reused", "已使用"),
                                         ("wrong_unit", "不是为本网点"), ("forged", "签名无效")])
def test_a_refused_ticket_shows_its_words_and_no_name_or_id_number(screen, tmp_path, case,
                                                                   words):
    now = dt.datetime.now(dt.timezone.utc)
    reason, message = _refused_ticket(now, UsedTickets(tmp_path / "used"), case)
    screen.idle()
    assert screen.server.view.state == "idle"
    # the chain's detail (English, for technicians) may name the ticket: the screen shows words
    screen.press_record(reason, detail=f"{message} ({NAME} {ID_NUMBER})")
    view = screen.server.view
    assert view.state == "refused" and words in view.status and "请" in view.status
    shown = json.dumps([v.parts() for v in screen.views], ensure_ascii=False)
    assert NAME not in shown and ID_NUMBER not in shown and "TB3101" not in shown
    # recorded like every screen change: the state part's hash, outside any session
    state = next(r for r in reversed(screen.screen_records()) if r["part"] == "state")
    assert state["sha256"] == hashlib.sha256(canonical.encode(view.parts()["state"])).hexdigest()
    assert state["node"] is None and state["viewers"] == 0
    records = json.dumps(screen.screen_records(), ensure_ascii=False)
    assert NAME not in records and ID_NUMBER not in records


def test_the_refusal_stays_for_its_time_on_the_units_clock_then_the_state_returns(screen):
    screen.idle()
    screen.press_record("ticket_expired", detail="expired")
    refused_at = screen.clock.monotonic_ns()
    screen.clock.advance(SHOW_SECONDS - 0.5)
    screen.idle()
    assert screen.server.view.state == "refused"
    screen.clock.advance(0.5)
    screen.idle()
    assert screen.server.view.state == "idle" and screen.server.view.status == "设备就绪"
    states = [r for r in screen.screen_records() if r["part"] == "state"]
    # the idle state, the refusal, the idle state again SHOW_SECONDS later (a SimClock that
    # only moves when told: the first two at the same instant)
    assert [r["at_ns"] - refused_at for r in states] == [0, 0, int(SHOW_SECONDS * 1e9)]


def test_the_next_record_replaces_or_clears_it(screen):
    screen.press_record("selftest", failed=["camera", "voice"], selftest={"ok": False})
    assert "摄像头、语音" in screen.server.view.status
    screen.press_record("storage", detail="disk low: 12 MiB free")
    assert "存储空间不足" in screen.server.view.status and "MiB" not in screen.server.view.status
    screen.press_record()                 # pressed again: the scan decides, the old words go
    assert screen.server.view.state == "idle"
    screen.press_record("no_ticket", detail="no ticket QR was shown")
    assert "双录二维码" in screen.server.view.status
    # a session that starts clears it: after the session the idle screen is the state again
    screen.evidence.start_session({"template": {"id": "t"}})
    screen.idle()
    assert screen.server.view.state == "idle"


def test_without_the_chain_the_idle_screen_is_as_before(tmp_path):
    """A screen part built without refusals or an event function (units whose daemon does
    not wire them) shows and records nothing new."""
    clock = SimClock(realtime=False)
    inbox = ScreenInbox()
    server = DisplayServer("127.0.0.1:0", quick_library(tmp_path / "docs"), inbox.input,
                           clock=clock, on_change=inbox.change)
    part = ScreenPart(server, server.documents, inbox, clock, snapshot=FlowSnapshot)
    part.idle(clock.monotonic_ns())
    assert server.view == idle_view(FlowSnapshot())
    server.close()
