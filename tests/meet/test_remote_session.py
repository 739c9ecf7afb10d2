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

import datetime as dt
from pathlib import Path

import pytest

from drivers.clock import SimClock
from firmware.cli.demo import demo_config
from firmware.config.loading import replace
from firmware.evidence.keys import DeviceKey
from firmware.evidence.verify import verify_path
from firmware.ticket import encode_ticket, ticket_from_spec
from firmware.unit.appliance import Appliance
from tests.meet.conftest import WANG_ID, ZHAO_ID
from tests.meet.parts import SMS, Listener
from tests.meet.remote_phone import Phone
from tests.remote.remote_rig import RecordWatch, write_tone_wav

SCRIPTS = Path(__file__).resolve().parent / "scripts"
WAIT = 60.0
DEVICE = "dr-remote-unit"


def unit_config(root: Path, broker, pki, sales: DeviceKey):
    """A small simulated unit with [meet] enabled and its fleet connection to the test's
    broker (its certificate's CN is its device id, as the broker's ACL wants)."""
    cert, key = pki.unit(DEVICE)
    return replace(demo_config(root, "remote-quick"),
                   device={"id": DEVICE, "key_file": str(root / "keys" / "device.key")},
                   camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000},
                   session={"template": "remote-quick", "scripts_dir": str(SCRIPTS)},
                   understanding={"enabled": False},
                   ticket={"sales_public_keys": sales.public.b64,
                           "used_dir": str(root.parent / "used")},
                   meet={"enabled": True, "ice_servers": ""},
                   mqtt={"url": broker.unit_url, "client_cert": cert, "client_key": key,
                         "ca_file": pki.ca_file, "branch": "0451",
                         "telemetry_interval_s": 30.0, "reconnect_min_s": 0.1,
                         "reconnect_max_s": 0.5})


def sale_spec(device_id: str) -> dict:
    """赵敏, the policyholder, at home; 王强, the insured, at the counter."""
    return {"application_number": "TB31012025061500017", "insurer": "示例人寿",
            "product": {"name": "示例终身寿险", "kind": "life", "returns": "fixed",
                        "premium_yuan": "10000.00", "frequency": "annual", "payment_years": 5,
                        "insurance_period": {"lifetime": True}, "cooling_off_days": 15},
            "people": [{"role": "policyholder", "name": "赵敏", "id_type": "resident_id",
                        "id_number": ZHAO_ID, "remote": True},
                       {"role": "insured", "name": "王强", "id_type": "resident_id",
                        "id_number": WANG_ID}],
            "staff_id": "S0001", "mode": "av", "scope": {"devices": [device_id]},
            "valid_hours": 8}


@pytest.fixture
def counter(tmp_path, broker, pki):
    """The unit as the daemon builds it (the appliance's own session parts), connected to the
    fleet broker by its agent, bound to the sale; torn down in order."""
    sales = DeviceKey.load_or_create(tmp_path / "sales" / "sales.key")
    watch = RecordWatch()
    app = Appliance(unit_config(tmp_path / "unit", broker, pki, sales),
                    clock=SimClock(realtime=True, synced=True), on_record=watch)
    try:
        app.hardware.camera.set_scene("face")
        app.hardware.microphone.set_source("speech")
        app.start_fleet(request_stop=lambda code: None, logs=lambda lines: "",
                        supervised=True)
        assert app.agent.ready.wait(WAIT), "the unit did not connect to the fleet broker"
        now = dt.datetime.fromtimestamp(app.clock.realtime_ns() / 1e9, dt.timezone.utc)
        ticket = ticket_from_spec(sale_spec(app.evidence.device_id), now)
        app.flow.bind(app.tickets.bind_text(encode_ticket(ticket, sales.sign, sales.public)))
        app.flow.request_selftest()
        assert app.flow.wait_idle(60)
        assert app.flow.prompter.wait_prepared(900), "the prompts were not rendered"
        yield app, watch, sales
        assert app.uplinks.failures() == {}
    finally:
        app.close()


def strings(value) -> list[str]:
    """Every string in a record's data."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def events(watch: RecordWatch, kind: str, **data) -> list[dict]:
    return [r.data for r in watch.of("EVENT", kind=kind, **data)]


def press_next(app, watch: RecordWatch, expect_node: str | None = None,
               refused: str | None = None) -> None:
    """NEXT, and what the flow made of it: refused with ``refused``, or on to ``expect_node``
    (or the script's end)."""
    before_refused = len(events(watch, "next_refused"))
    before_end = len(events(watch, "node_end"))
    app.hardware.panel.press("NEXT", 0.05)
    watch.wait(lambda w: len(events(w, "next_refused")) > before_refused
               or len(events(w, "node_end")) > before_end, WAIT)
    got = events(watch, "next_refused")[before_refused:]
    if refused is not None:
        assert [g["reason"] for g in got] == [refused]
        return
    assert not got, got
    if expect_node is not None:
        watch.wait(lambda w: events(w, "node_start", node=expect_node), WAIT)


def prompt_done(watch: RecordWatch, node: str) -> None:
    watch.wait(lambda w: any(p["node"] == node and p["completed"]
                             for p in events(w, "prompt")), WAIT)


def test_a_remote_policyholder_joins_drops_and_comes_back_and_the_session_verifies(
        counter, broker, pki, relays, watch, tmp_path):
    app, records, _sales = counter
    sms = Listener(broker, pki, SMS, "dualrec/v1/meet/+/+/notice")
    relay = relays()
    phone = None
    try:
        app.hardware.panel.press("RECORD", 0.1)
        notice = sms.wait_payload("notice", lambda p: p["kind"] == "opened")
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
        records.wait(lambda w: events(w, "script_complete"), WAIT)
        app.hardware.panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
        records.wait(lambda w: w.of("SESSION_END"), WAIT)
        phone.wait_frame(lambda f: f == {"type": "bye", "reason": "closed"}, page=phone.page)
    finally:
        if phone is not None:
            phone.close()
        sms.close()

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
    now = dt.datetime.fromtimestamp(app.clock.realtime_ns() / 1e9, dt.timezone.utc)
    ticket = ticket_from_spec(spec, now)
    app.flow.bind(app.tickets.bind_text(encode_ticket(ticket, sales.sign, sales.public)))
    assert app.flow.wait_idle(60)
    app.hardware.panel.press("RECORD", 0.1)
    for node, after in (("consent", "facts"), ("facts", "close"), ("close", None)):
        records.wait(lambda w: events(w, "node_start", node=node), WAIT)
        prompt_done(records, node)
        press_next(app, records, expect_node=after)
    app.hardware.panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
    records.wait(lambda w: w.of("SESSION_END"), WAIT)
    assert not events(records, "remote_meeting")
    assert verify_path(app.evidence.spool.root).ok
