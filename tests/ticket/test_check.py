"""The unit's checks: time, branch and unit, and the register that makes a ticket single-use."""
from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path
from typing import Callable

import pytest

from firmware.errors import ConfigError
from firmware.evidence.keys import DeviceKey
from firmware.ticket import (EXPIRED, NOT_YET_VALID, REUSED, WRONG_UNIT, Ticket, TicketChecker,
                             TicketRefused, TicketRegisterError, UnitScope, UsedTickets)
from firmware.ticket.used import REGISTER_FILE

UNIT = UnitScope("dr-0001", "BANK3101", "SH0012")
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def checker(sales_key: DeviceKey, tmp_path: Path) -> TicketChecker:
    return TicketChecker([sales_key.public], UNIT, UsedTickets(tmp_path / "used"))


def reason(checker: TicketChecker, text: str, at: dt.datetime, *, bind: bool = False) -> str:
    result = checker.result(text, at, bind=bind)
    return result.status


def test_a_valid_ticket_is_accepted(checker: TicketChecker, sample_text: str,
                                    now: dt.datetime, sales_key: DeviceKey) -> None:
    result = checker.result(sample_text, now)
    assert result.ok, result.message
    assert result.signer == sales_key.public
    assert result.summary()["ticket"]["application_hash"] == result.ticket.application_hash
    assert "王建国" not in json.dumps(result.summary(), ensure_ascii=False)


def test_expiry_and_not_yet_valid(checker: TicketChecker, sample_text: str,
                                  now: dt.datetime) -> None:
    assert reason(checker, sample_text, now + 8 * HOUR - dt.timedelta(seconds=1)) == "ok"
    assert reason(checker, sample_text, now + 8 * HOUR) == EXPIRED
    assert reason(checker, sample_text, now + 1000 * HOUR) == EXPIRED
    assert reason(checker, sample_text, now - dt.timedelta(minutes=4)) == "ok"  # clock skew
    assert reason(checker, sample_text, now - dt.timedelta(minutes=6)) == NOT_YET_VALID
    exc = pytest.raises(TicketRefused, checker.check, sample_text, now - HOUR).value
    assert exc.reason == NOT_YET_VALID and "clock" in exc.message and "本机时间" in exc.display
    with pytest.raises(ValueError, match="aware"):
        checker.check(sample_text, now.replace(tzinfo=None))


@pytest.mark.parametrize("scope, unit, expected", [
    ({"org": "BANK3101"}, UnitScope("dr-0009", "BANK3101", "SH0099"), "ok"),
    ({"org": "BANK3101"}, UnitScope("dr-0001", "BANK3102", "SH0012"), WRONG_UNIT),
    ({"org": "BANK3101", "outlet": "SH0012"}, UnitScope("dr-0001", "BANK3101", "SH0013"),
     WRONG_UNIT),
    ({"org": "BANK3101"}, UnitScope("dr-0001"), WRONG_UNIT),  # a unit with no branch set
    ({"devices": ["dr-0001", "dr-0002"]}, UnitScope("dr-0002"), "ok"),
    ({"devices": ["dr-0001"]}, UnitScope("dr-0003", "BANK3101", "SH0012"), WRONG_UNIT),
    ({"org": "BANK3101", "devices": ["dr-0001"]}, UnitScope("dr-0001", "BANK3102"), WRONG_UNIT),
])
def test_scope(issue: Callable[..., str], sales_key: DeviceKey, now: dt.datetime,
               scope: dict, unit: UnitScope, expected: str) -> None:
    checker = TicketChecker([sales_key.public], unit)
    assert reason(checker, issue(scope=scope), now) == expected


def test_used_once(checker: TicketChecker, sample_text: str, now: dt.datetime) -> None:
    assert reason(checker, sample_text, now) == "ok"  # a check uses nothing up
    assert reason(checker, sample_text, now, bind=True) == "ok"
    assert reason(checker, sample_text, now) == REUSED
    result = checker.result(sample_text, now + HOUR, bind=True)
    assert result.status == REUSED and "只能使用一次" in result.display


def test_reuse_is_refused_after_a_restart(sales_key: DeviceKey, sample_text: str,
                                          issue: Callable[..., str], now: dt.datetime,
                                          tmp_path: Path) -> None:
    first = TicketChecker([sales_key.public], UNIT, UsedTickets(tmp_path / "used"))
    first.bind(sample_text, now)
    other = issue(ticket_id="ffeeddccbbaa99887766554433221100")
    restarted = TicketChecker([sales_key.public], UNIT, UsedTickets(tmp_path / "used"))
    assert reason(restarted, sample_text, now, bind=True) == REUSED
    assert reason(restarted, other, now, bind=True) == "ok"
    assert len(UsedTickets(tmp_path / "used")) == 2
    assert oct((tmp_path / "used").stat().st_mode & 0o777) == "0o700"


def test_two_binds_at_once_use_a_ticket_once(sales_key: DeviceKey, sample_text: str,
                                             now: dt.datetime, tmp_path: Path) -> None:
    checkers = [TicketChecker([sales_key.public], UNIT, UsedTickets(tmp_path / "used"))
                for _ in range(4)]
    results: list[str] = []
    start = threading.Barrier(len(checkers))

    def bind(checker: TicketChecker) -> None:
        start.wait()
        results.append(checker.result(sample_text, now, bind=True).status)
    threads = [threading.Thread(target=bind, args=(c,)) for c in checkers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", REUSED, REUSED, REUSED]


def test_register_drops_long_expired_tickets_and_is_bounded(
        make_ticket: Callable[..., Ticket], now: dt.datetime, tmp_path: Path) -> None:
    used = UsedTickets(tmp_path, max_entries=3)
    tickets = [make_ticket(ticket_id=f"{i:032x}") for i in range(4)]
    for ticket in tickets[:3]:
        used.claim(ticket, now)
    with pytest.raises(TicketRegisterError, match="the most it keeps"):
        used.claim(tickets[3], now)
    later = now + dt.timedelta(days=8)  # the first three expired more than 7 days ago
    used.claim(tickets[3], later)
    assert len(used) == 1 and used.is_used(tickets[3].ticket_id)
    assert not used.is_used(tickets[0].ticket_id)


def test_damaged_register_accepts_nothing(checker: TicketChecker, sample_text: str,
                                          now: dt.datetime, tmp_path: Path) -> None:
    (tmp_path / "used" / REGISTER_FILE).write_text("{not json", encoding="ascii")
    with pytest.raises(TicketRegisterError, match="damaged"):
        checker.result(sample_text, now)
    with pytest.raises(TicketRegisterError, match="damaged"):
        UsedTickets(tmp_path / "used")


def test_register_refuses_symlinks(tmp_path: Path, make_ticket: Callable[..., Ticket],
                                   now: dt.datetime) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text('{"format":"dualrec-used-tickets-v1","tickets":[]}', encoding="ascii")
    (tmp_path / "used").mkdir()
    os.symlink(target, tmp_path / "used" / REGISTER_FILE)
    with pytest.raises(TicketRegisterError, match="symlink"):
        UsedTickets(tmp_path / "used")
    os.symlink(tmp_path / "used", tmp_path / "linked")
    with pytest.raises(TicketRegisterError, match="cannot open"):
        UsedTickets(tmp_path / "linked")
    (tmp_path / "used" / REGISTER_FILE).unlink()
    used = UsedTickets(tmp_path / "used")
    os.symlink(target, tmp_path / "used" / (REGISTER_FILE + ".tmp"))  # planted for the write
    used.claim(make_ticket(), now)
    assert target.read_text(encoding="ascii").endswith("[]}")  # not written through
    assert not (tmp_path / "used" / (REGISTER_FILE + ".tmp")).exists()


def test_a_unit_without_a_sales_key_accepts_nothing() -> None:
    with pytest.raises(ConfigError, match="no sales-system public key"):
        TicketChecker([], UNIT)


def test_bind_needs_a_register(sales_key: DeviceKey, sample_text: str,
                               now: dt.datetime) -> None:
    with pytest.raises(ValueError, match="register"):
        TicketChecker([sales_key.public], UNIT).bind(sample_text, now)
