"""What the fleet hears from the evidence chain, record by record, with a real Evidence: every
way a session can end, every fault, the boot event after each way a run can stop — and each
event's data keeps the closed contract."""
from __future__ import annotations

import pytest

from firmware.evidence import records
from firmware.evidence.store import Evidence
from firmware.protocol.mqtt.payloads import event_payload
from firmware.unit.fleet.boot_report import boot_data, recovered_session_ends
from firmware.unit.fleet.chain_events import ChainEvents
from firmware.config.model import Origin
from tests.fleet.contract_watch import closed_contract

A = "dr-unit-a"


def keeps_contract(kind: str, data: dict) -> dict:
    payload = event_payload(A, kind, data, "0" * 32, 1714551300.0)
    problems = closed_contract().schema_problems("Event", payload)
    assert not problems, (kind, data, problems)
    return data


class Heard:
    """The events the chain's records become, as the unit's Uplinks feeds them."""

    def __init__(self) -> None:
        self.events = ChainEvents()
        self.heard: list[tuple[str, dict]] = []
        self.stopping = None

    def __call__(self, record) -> None:
        for kind, data in self.events.events_for(record, self.stopping):
            self.heard.append((kind, keeps_contract(kind, data)))

    def of(self, kind: str) -> list[dict]:
        return [d for k, d in self.heard if k == kind]


@pytest.fixture
def heard() -> Heard:
    return Heard()


TICKET = {"ticket_id": "ab" * 16, "application_hash": "cd" * 16, "product_kind": "life",
          "mode": "av", "roles": {"policyholder": 1}, "remote": 0, "staff_id": "S-1"}


def session(ev: Evidence, end: dict, *, template: str = "bank-life") -> str:
    sid = ev.start_session({"template": {"id": template, "version": "3", "title": "t",
                                         "sha256": "ab" * 32, "elder": False},
                            "mode": "av", "elder": False, "ticket": TICKET})
    ev.end_session(sid, end)
    return sid


QUALITY = {"verdict": "review", "findings": [{"check": "silent_answer", "detail": "x"},
                                             {"check": "media_gap", "detail": "y"}]}


@pytest.mark.parametrize("end, stopping, ending", [
    ({"reason": "stopped by RECORD held", "script_complete": True, "quality": QUALITY,
      "refusals": 2, "stats": {"video_frames": 90}}, None, "completed"),
    ({"reason": "stopped by RECORD held", "script_complete": False}, None, "stopped"),
    ({"reason": "disk_low", "script_complete": False}, None, "disk_full"),
    ({"reason": "fault: camera driver crashed", "complete": False}, None, "fault"),
    ({"reason": "daemon stopping"}, None, "shutdown"),
    ({"reason": "daemon stopping"}, ("restart", "c-7", True), "restart"),
    ({"reason": "daemon stopping"}, ("reboot", "c-8", True), "reboot"),
    ({"reason": "the cat sat on RECORD"}, None, "other"),
])
def test_every_way_a_session_ends_is_named(tmp_path, device_key, clock, heard, end, stopping,
                                           ending):
    heard.stopping = stopping
    with Evidence.open(tmp_path / "s", device_key, clock, device_id=A,
                       on_record=heard) as ev:
        sid = session(ev, end)
    started, = heard.of("session_started")
    assert (started["session_id"], started["template"], started["template_version"]) == (
        sid, "bank-life", "3")
    ended, = heard.of("session_ended")
    assert (ended["session_id"], ended["ending"], ended["template"]) == (sid, ending,
                                                                         "bank-life")
    assert ended["command_id"] == (stopping[1] if stopping else None)
    for event in (started, ended):           # the sale it was for, by pseudonym only
        assert (event["ticket_id"], event["application_hash"]) == ("ab" * 16, "cd" * 16)
    if ending == "completed":
        assert ended["findings"] == ["media_gap", "silent_answer"]
        assert (ended["verdict"], ended["refusals"]) == ("review", 2)


def test_faults_have_their_part_and_reason_and_a_broken_check_is_told_once(
        tmp_path, device_key, clock, heard):
    broken = {"ok": False, "at_ns": 1, "checks": {
        "camera": {"ok": False, "blocking": True, "detail": "0 frames"},
        "clock": {"ok": False, "blocking": False, "detail": "synced=False"},
        "disk": {"ok": True, "blocking": True, "detail": "plenty"}}}
    with Evidence.open(tmp_path / "s", device_key, clock, device_id=A,
                       on_record=heard) as ev:
        ev.event("selftest", broken)
        ev.event("selftest", broken)                       # still broken: no second fault
        ev.event("selftest", {"ok": True, "at_ns": 2, "checks": {}})
        ev.event("selftest", broken)                       # broken again: told again
        sid = ev.start_session({"template": {"id": "quick"}, "mode": "av"})
        ev.event("device_lost", {"device": "sigpad", "reason": "pad unplugged", "at_ns": 3},
                 session_id=sid)
        ev.event("disk_low", {"detail": "10 MiB free", "node": "sign"}, session_id=sid)
        ev.event("badge_refused", {"node": "credentials", "status": "not_on_roster"},
                 session_id=sid)
        ev.event("record_refused", {"reason": "selftest", "failed": ["camera"],
                                    "selftest": broken})
        ev.event("record_refused", {"reason": "ticket_expired", "detail": "expired"})
        ev.event("press", {"button": "NEXT"})              # not for the fleet
    assert [d["ok"] for d in heard.of("selftest")] == [False, False, True, False]
    faults = heard.of("fault")
    assert [(f["part"], f["reason"]) for f in faults] == [
        ("camera", "selftest_failed"), ("camera", "selftest_failed"), ("pad", "device_lost")]
    assert faults[2]["session_id"] == sid and faults[2]["message"] == "pad unplugged"
    assert heard.of("disk_low")[0]["node"] == "sign"
    assert heard.of("badge_refused")[0]["status"] == "not_on_roster"
    assert [r["reason"] for r in heard.of("record_refused")] == ["selftest", "ticket_expired"]
    assert heard.of("record_refused")[0]["failed"] == ["camera"]


def _boot(ev: Evidence, note=None) -> dict:
    return keeps_contract("boot", boot_data(ev.recovery, note, firmware="0.1.0",
                                            simulated=True, origin=Origin()))


def test_the_boot_event_says_how_the_previous_run_ended(tmp_path, device_key, clock):
    spool = tmp_path / "s"
    with Evidence.open(spool, device_key, clock, device_id=A) as ev:
        assert _boot(ev)["previous"]["stop"] == "first_start"
    with Evidence.open(spool, device_key, clock, device_id=A) as ev:
        previous = _boot(ev)["previous"]
        assert (previous["stop"], previous["last_record"]["type"]) == ("stopped", "SHUTDOWN")
    with Evidence.open(spool, device_key, clock, device_id=A) as ev:
        note = {"action": "reboot", "command_id": "c-9", "force": False}
        previous = _boot(ev, note)["previous"]
        assert (previous["stop"], previous["command_id"]) == ("reboot_command", "c-9")
    crashed = Evidence.open(spool, device_key, clock, device_id=A)
    sid = crashed.start_session({"template": {"id": "quick"}, "mode": "av"})
    crashed.ledger.close()                 # the process dies: no SESSION_END, no SHUTDOWN
    with Evidence.open(spool, device_key, clock, device_id=A) as ev:
        previous = _boot(ev)["previous"]
        assert previous["stop"] == "unclean" and previous["interrupted_sessions"] == [sid]
        assert "1 session closed by recovery" in previous["message"]
        ends = recovered_session_ends(spool, [sid])
        record = next(r for r in _records(spool) if r.seq == ends[sid])
        assert record.type == records.SESSION_END and record.data["closed_by"] == "recovery"


def _records(spool):
    from firmware.evidence.chain import chain_records
    return list(chain_records(spool))
