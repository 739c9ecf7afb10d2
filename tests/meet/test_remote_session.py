"""A session with a remote policyholder (issue 17), the two halves wired by the remote parties'
part: the unit on simulated hardware, bound by a signed ticket; the meeting on the real
mosquitto (TLS, the project's ACL) through a relay; the policyholder's phone an aiortc peer
behind the relay's WebSocket. The party's media is sealed in the session, NEXT is refused
until they joined and while their call is down, and accepted once they are back; the session
verifies.

The unit is the appliance as the daemon builds it: its own session parts, the meeting held on
the fleet agent's own MQTT connection (``Uplinks.meeting_bus``), which it subscribes again
after a reconnection.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware.evidence.verify import verify_path
from tests.meet.conftest import ZHAO_ID
from tests.meet.counter_unit import (WAIT, bind, bound_unit, events, finish, press_next,
                                     prompt_done, sale_spec, strings)
from tests.meet.parts import record_and_read_notice
from tests.meet.remote_phone import Phone
from tests.remote.remote_rig import write_tone_wav

SCRIPTS = Path(__file__).resolve().parent / "scripts"
DEVICE = "dr-remote-unit"


@pytest.fixture
def counter(tmp_path, broker, pki):
    """The unit as the daemon builds it, connected to the fleet broker, bound to the sale:
    ``(app, watch, sales key)``."""
    with bound_unit(tmp_path, broker, pki, device=DEVICE, template="remote-quick",
                    scripts=SCRIPTS) as made:
        yield made


def test_a_remote_policyholder_joins_drops_and_comes_back_and_the_session_verifies(
        counter, broker, pki, relays, watch, tmp_path):
    app, records, _sales = counter
    relay = relays()
    phone = None
    try:
        notice = record_and_read_notice(app, broker, pki)
        assert notice["seats"] == [0]
        records.wait(lambda w: events(w, "node_start", node="consent"), WAIT)
        sid = app.flow.snapshot.session_id
        prompt_done(records, "consent")
        press_next(app, records, refused="remote_not_joined")        # nobody there yet

        phone = Phone(relay.url, notice["meeting"], write_tone_wav(tmp_path / "tone.wav"))
        admitted = phone.join(notice["code"], [0], "赵敏", ZHAO_ID[-4:])
        assert admitted["roles"] == ["policyholder"]
        phone.call()
        records.wait(lambda w: events(w, "remote_joined", party="p1"), WAIT)
        records.wait(lambda w: w.of("SEGMENT", stream="remote_video", party="p1")
                     and w.of("SEGMENT", stream="remote_audio", party="p1"), WAIT)
        phone.wait_received(video=5, audio=25)                        # the counter, seen there
        press_next(app, records, expect_node="facts")

        prompt_done(records, "facts")
        phone.go_silent()                                             # the phone's network drops
        records.wait(lambda w: len(events(w, "remote_media_lost", party="p1")) >= 2, WAIT)
        press_next(app, records, refused="remote_disconnected")

        phone.come_back()                                             # the resume token
        phone.wait_frame(lambda f: f == {"type": "bye", "reason": "replaced"}, page=0)
        records.wait(lambda w: events(w, "remote_joined", party="p1", connection=2), WAIT)
        records.wait(lambda w: len(w.of("GAP", kind="network_drop")) >= 2, WAIT)
        records.wait(lambda w: any(s.data["connection"] == 2 for s in
                                   w.of("SEGMENT", stream="remote_video", party="p1")), WAIT)
        press_next(app, records, expect_node="close")

        prompt_done(records, "close")
        press_next(app, records)
        finish(app, records)
        phone.wait_frame(lambda f: f == {"type": "bye", "reason": "closed"}, page=phone.page)
    finally:
        if phone is not None:
            phone.close()

    assert phone.errors == []
    report = verify_path(app.evidence.spool.root)
    assert report.ok, report.findings
    session = [r for r in records.records if r.session == sid]
    meeting = [r.data for r in session if r.type == "EVENT" and r.data["kind"] == "remote_meeting"]
    kinds = [m["event"] for m in meeting]
    assert kinds[0] == "opened" and kinds[-1] == "ended"
    assert {"admitted", "resumed"} <= set(kinds)
    choice = next(m for m in meeting if m["event"] == "admitted")
    assert (choice["party"], choice["seats"], choice["roles"]) == ("p1", [0], ["policyholder"])
    assert [r for r in session if r.type == "SEGMENT"
            and r.data.get("stream") in ("remote_video", "remote_audio")]
    gaps = [r.data for r in session if r.type == "GAP" and r.data["kind"] == "network_drop"]
    assert {g["stream"] for g in gaps} == {"remote_video", "remote_audio"}
    assert all(g["start_ns"] < g["end_ns"] for g in gaps)
    assert events(records, "remote_left", party="p1")[-1]["reason"] == "unit_closed"
    # the code and the policyholder's name are in no record
    assert not [r for r in records.records if "赵敏" in str(r.data)
                or notice["code"] in strings(r.data)]
    assert app.flow.last_summary["refusals"] == 2


def test_a_session_without_remote_people_holds_no_meeting(counter, broker, pki):
    """The same unit, bound to a sale where everyone is at the counter: no meeting, no
    refusal from the part."""
    app, records, sales = counter
    spec = sale_spec(app.evidence.device_id)
    spec["people"][0] = {**spec["people"][0], "remote": False}
    bind(app, sales, spec)
    app.hardware.panel.press("RECORD", 0.1)
    for node, after in (("consent", "facts"), ("facts", "close"), ("close", None)):
        records.wait(lambda w: events(w, "node_start", node=node), WAIT)
        prompt_done(records, node)
        press_next(app, records, expect_node=after)
    app.hardware.panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
    records.wait(lambda w: w.of("SESSION_END"), WAIT)
    assert not events(records, "remote_meeting")
    assert verify_path(app.evidence.spool.root).ok
