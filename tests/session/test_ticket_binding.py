"""The sale reaches the unit (issue 13): a signed ticket shown to the camera at RECORD binds the
session — template by product and age, the policy's facts spoken, the script sealed — and a
forged, expired, reused or foreign ticket is refused with its reason on the chain."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

import pytest
from session_helpers import session_events, wait_for

from firmware.cli.demo import issue_demo_ticket
from firmware.evidence.chain import chain_records
from firmware.evidence.keys import DeviceKey
from firmware.ticket import ticket_from_spec
from firmware.unit.binder import Binder, TicketBinder
from firmware.unit.session.script import load_templates
from tests.session.conftest import SCRIPTS

SPEC = {
    "application_number": "TB31012025061500017", "insurer": "示例人寿保险股份有限公司",
    "product": {"name": "示例安享年金保险", "kind": "annuity", "returns": "fixed",
                "premium_yuan": "12000", "frequency": "annual", "payment_years": 10,
                "insurance_period": {"to_age": 88}, "cooling_off_days": 15},
    "people": [{"role": "policyholder", "name": "王建国", "id_type": "resident_id",
                "id_number": "310115197503071236", "gender": "M"},
               {"role": "insured", "name": "王建国", "id_type": "resident_id",
                "id_number": "310115197503071236", "gender": "M"}],
    "staff_id": "S0001", "mode": "av", "scope": {"org": "BANK3101"}, "valid_hours": 8}


@pytest.fixture
def sales_key(tmp_path):
    return DeviceKey.load_or_create(tmp_path / "sales" / "sales.key")


@pytest.fixture
def ticket_app(make_appliance, tmp_path, sales_key):
    def make(**sections):
        # a ticket's QR (~75 modules) needs more pixels than the session tests' 320x240
        return make_appliance("quick", ticket={"sales_public_keys": sales_key.public.b64,
                                               "used_dir": str(tmp_path / "used"),
                                               "scan_seconds": 3},
                              camera={"width": 640, "height": 480, "fps": 15,
                                      "bitrate": 500_000}, **sections)
    return make


def _now(app) -> dt.datetime:
    return dt.datetime.fromtimestamp(app.clock.realtime_ns() / 1e9, dt.timezone.utc)


def _record_with(app, qr) -> str | None:
    """Hold ``qr`` up, press RECORD; the session id, or None when RECORD was refused."""
    app.hardware.camera.show_image(qr)
    before = len([r for r in chain_records(app.evidence.spool.root)
                  if r.type == "EVENT" and r.data.get("kind") == "record_refused"])
    app.hardware.panel.press("RECORD", 0.1)
    wait_for(lambda: app.flow.active is not None or len(
        [r for r in chain_records(app.evidence.spool.root)
         if r.type == "EVENT" and r.data.get("kind") == "record_refused"]) > before,
        timeout=120, what="RECORD handled")
    app.hardware.camera.set_scene("face")
    if app.flow.active is None:
        return None
    sid = app.flow.active.session_id
    wait_for(lambda: session_events(app, sid, "node_start"), what="the first node")
    return sid


def _refusals(app) -> list[str]:
    return [r.data["reason"] for r in chain_records(app.evidence.spool.root)
            if r.type == "EVENT" and r.data.get("kind") == "record_refused"]


def test_a_ticket_at_record_binds_the_session_and_its_facts_are_spoken(ticket_app, sales_key):
    app = ticket_app()
    ticket, qr = issue_demo_ticket_spec(SPEC, sales_key, app)
    sid = _record_with(app, qr)
    assert sid is not None, _refusals(app)
    start = next(r for r in chain_records(app.evidence.spool.root)
                 if r.type == "SESSION_START" and r.session == sid)
    assert start.data["template"]["id"] == "quick-facts"
    assert start.data["ticket"]["ticket_id"] == ticket.ticket_id
    assert start.data["ticket"]["application_hash"] == ticket.application_hash
    assert "王建国" not in json.dumps(start.data, ensure_ascii=False)     # no personal data
    script = json.loads((app.evidence.spool.session_dir(sid) / "script.json").read_bytes())
    facts = next(n["prompt"] for n in script["nodes"] if n["id"] == "facts")
    assert facts == "示例人寿保险股份有限公司的示例安享年金保险，保险费为每年一万二千元，犹豫期十五天。"
    assert start.data["ticket"]["script_sha256"] == hashlib.sha256(
        (app.evidence.spool.session_dir(sid) / "script.json").read_bytes()).hexdigest()
    # what was spoken is what the sealed script says
    app.flow.prompter.wait_prepared(300)
    wait_for(lambda: app.flow.refusal(app.clock.monotonic_ns()) is None, timeout=120)
    app.hardware.panel.press("NEXT", 0.05)
    wait_for(lambda: len(session_events(app, sid, "node_start")) == 2, timeout=60)
    wait_for(lambda: len(session_events(app, sid, "prompt")) == 2, timeout=120)
    spoken = {e["node"]: e["text_sha256"] for e in session_events(app, sid, "prompt")}
    for node in script["nodes"]:
        assert spoken[node["id"]] == hashlib.sha256(node["prompt"].encode()).hexdigest()


def issue_demo_ticket_spec(spec, key, app, **changes):
    path = app.evidence.spool.root.parent / "spec.json"
    path.write_text(json.dumps({**spec, **changes}, ensure_ascii=False))
    return issue_demo_ticket(path, key, app.view.device_id, _now(app))


def test_a_ticket_is_used_once(ticket_app, sales_key):
    app = ticket_app()
    _ticket, qr = issue_demo_ticket_spec(SPEC, sales_key, app)
    assert _record_with(app, qr) is not None
    app.hardware.panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
    wait_for(lambda: app.flow.active is None, timeout=120, what="the session's end")
    assert _record_with(app, qr) is None
    assert _refusals(app)[-1] == "ticket_reused"


@pytest.mark.parametrize("case, reason", [("forged", "ticket_forged"),
                                          ("expired", "ticket_expired"),
                                          ("wrong_unit", "ticket_wrong_unit")])
def test_a_bad_ticket_is_refused_with_its_reason(ticket_app, sales_key, case, reason):
    from firmware.ticket import encode_ticket
    from firmware.ticket.qr import ticket_qr_image
    import numpy as np
    app = ticket_app()
    now = _now(app)
    spec = {**SPEC, "scope": {"devices": [app.view.device_id]}}
    key = sales_key
    if case == "forged":
        key = DeviceKey.generate()
    elif case == "expired":
        spec = {**spec, "valid_hours": 1}
        now = now - dt.timedelta(hours=3)
    elif case == "wrong_unit":
        spec = {**spec, "scope": {"devices": ["dr-another-unit"]}}
    ticket = ticket_from_spec(spec, now)
    qr = ticket_qr_image(encode_ticket(ticket, key.sign, key.public), module_px=4)
    qr = qr if qr.ndim == 3 else np.repeat(qr[:, :, None], 3, axis=2)
    assert _record_with(app, qr) is None
    assert _refusals(app)[-1] == reason
    events = [r for r in chain_records(app.evidence.spool.root)
              if r.type == "EVENT" and r.data.get("kind") == "ticket"]
    assert events and events[-1].data["status"] == reason.removeprefix("ticket_")


def test_no_ticket_no_session_when_the_unit_has_a_sales_key(ticket_app):
    app = ticket_app()
    app.hardware.panel.press("RECORD", 0.1)
    wait_for(lambda: "no_ticket" in _refusals(app), timeout=60)
    assert app.flow.active is None


def _binder(today_age_policyholder_born: str, kind: str):
    templates = load_templates()
    from drivers.clock import SimClock
    binder = Binder(templates, SimClock(realtime=True), template="bank-life", mode="av")
    spec = {**SPEC, "product": {**SPEC["product"], "kind": kind,
                                "returns": "uncertain" if kind == "participating" else "fixed"},
            "people": [{**p, "id_number": today_age_policyholder_born}
                       for p in SPEC["people"]]}
    ticket = ticket_from_spec(spec, dt.datetime.now(dt.timezone.utc))
    return TicketBinder(binder).bind(ticket, "fingerprint")


@pytest.mark.parametrize("born, kind, template", [
    ("310115197503071236", "life", "bank-life"),
    ("310115195003071230", "life", "bank-life-elder"),          # 60 or over
    ("310115197503071236", "participating", "bank-participating"),
    ("310115195003071230", "participating", "bank-participating-elder"),
])
def test_the_ticket_selects_the_template(born, kind, template):
    binding = _binder(born, kind)
    assert binding.template.id == template
    facts = binding.prompts["product-facts"]
    assert "一万二千元" in facts and "至八十八周岁" in facts and "十五天" in facts
    assert "{" not in "".join(binding.prompts.values())
    if kind == "participating":
        assert "不确定" in binding.prompts["uncertain-returns"]


def test_the_camera_should_see_each_person_at_the_counter_once():
    # SPEC: the policyholder insures themself (one person, two roles) + the salesperson
    assert _binder("310115197503071236", "life").counter_people == 2
    templates = load_templates()
    from drivers.clock import SimClock
    binder = Binder(templates, SimClock(realtime=True), template="bank-life", mode="av")
    child = "310115201508211022"
    spec = {**SPEC, "people": [
        SPEC["people"][0], {**SPEC["people"][1], "name": "王子涵", "id_number": child,
                            "gender": "F", "remote": True},
        {"role": "guardian", "name": "李秀英", "id_type": "resident_id",
         "id_number": "310115197804122244", "gender": "F", "guardian_for": child}]}
    ticket = ticket_from_spec(spec, dt.datetime.now(dt.timezone.utc))
    assert TicketBinder(binder).bind(ticket, "f").counter_people == 3   # the child is remote


def test_a_unit_without_its_voice_says_so(make_appliance, tmp_path):
    """No model: the self-test fails on the voice and RECORD is refused — never silence."""
    empty = tmp_path / "no-models"
    empty.mkdir()
    app = make_appliance("quick", speech={"model_dir": str(empty)}, prepare=False)
    assert app.selftest.last is not None and "voice" in app.selftest.last.failed
    assert "kokoro" in app.selftest.last.checks["voice"]["detail"].lower() or \
        "model" in app.selftest.last.checks["voice"]["detail"].lower()
    app.hardware.panel.press("RECORD", 0.1)
    wait_for(lambda: any(r.type == "EVENT" and r.data.get("kind") == "record_refused"
                         for r in chain_records(app.evidence.spool.root)))
    assert app.flow.active is None
