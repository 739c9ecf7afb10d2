"""The back office binds the next session to a sale (issue 13): the signed ticket's QR text as
the ``bind`` command's payload, over the real broker (project config, TLS, ACL) to the whole
appliance on simulated hardware, checked by the same gate as a QR at the counter and
``dualrec bind --ticket``: a valid ticket binds the session RECORD starts next; a forged,
expired, foreign or used one is refused with its reason; nothing is bound while a session
records. The validating subscriber (conftest.py) holds every publication to the contract."""
from __future__ import annotations

import datetime as dt

import pytest
from session_helpers import drive

from drivers.clock import SimClock
from firmware.config.loading import replace
from firmware.evidence.chain import chain_records
from firmware.evidence.keys import DeviceKey
from firmware.ticket import Ticket, encode_ticket, ticket_from_spec
from firmware.ticket.codec import MAX_TEXT_CHARS
from firmware.unit.appliance import Appliance
from firmware.unit.control_commands import ControlCommands
from firmware.unit.fleet.appliance_hooks import ApplianceHooks
from firmware.unit.remote_config import with_desired_config
from tests.fleet.unit_runner import DEVICE, UnitRunner

SPEC = {
    "application_number": "TB31012025061500017", "insurer": "示例人寿保险股份有限公司",
    "product": {"name": "示例安享年金保险", "kind": "annuity", "returns": "fixed",
                "premium_yuan": "12000", "frequency": "annual", "payment_years": 10,
                "insurance_period": {"to_age": 88}, "cooling_off_days": 15},
    "people": [{"role": "policyholder", "name": "王建国", "id_type": "resident_id",
                "id_number": "310115197503071236", "gender": "M"},
               {"role": "insured", "name": "王建国", "id_type": "resident_id",
                "id_number": "310115197503071236", "gender": "M"}],
    "staff_id": "S0001", "mode": "av", "scope": {"devices": [DEVICE]}, "valid_hours": 8}


@pytest.fixture(scope="module")
def sales_key() -> DeviceKey:
    return DeviceKey.generate()


@pytest.fixture
def unit(tmp_path, pki, broker, sales_key):
    cert, key = pki.unit(DEVICE)
    runner = UnitRunner(tmp_path / "unit", url=broker.unit_url, cert=cert, key=key,
                        ca=pki.ca_file)
    runner.base = replace(runner.base, ticket={"sales_public_keys": sales_key.public.b64,
                                               "used_dir": str(tmp_path / "used")})
    yield runner
    runner.close()


def start(runner: UnitRunner) -> Appliance:
    """The unit as ``UnitRunner.start`` starts it, its fleet hooks given the control socket's
    ticket binding (what ``Appliance.start_fleet`` is to pass as ``bind_ticket``)."""
    app = Appliance(with_desired_config(runner.base), clock=SimClock(realtime=True, rate=6.0))
    runner.app = app
    app.hardware.camera.set_scene("face")
    app.hardware.microphone.set_source("speech")
    commands = ControlCommands(view=app.view, flow=app.flow, binder=app.binder,
                               tickets=app.tickets, hardware=app.hardware,
                               evidence=app.evidence, light=app.light,
                               hold_seconds=app.config.panel.hold_seconds)
    hooks = ApplianceHooks(app.view, app.uplinks, config=app.config, clock=app.clock,
                           locate=app.hardware.panel.locate, request_stop=lambda code: None,
                           logs=lambda lines: "", simulated=True, supervised=True,
                           bind_ticket=commands.bind_ticket)
    app.uplinks.start_fleet(hooks, simulated=True)
    assert app.agent.ready.wait(20), "the unit did not connect"
    app.flow.request_selftest()
    app.flow.wait_idle(60)
    return app


def issue(app: Appliance, key: DeviceKey, *, hours_ago: float = 0, **changes) -> tuple[
        Ticket, str]:
    now = dt.datetime.fromtimestamp(app.clock.realtime_ns() / 1e9, dt.timezone.utc)
    ticket = ticket_from_spec({**SPEC, **changes}, now - dt.timedelta(hours=hours_ago))
    return ticket, encode_ticket(ticket, key.sign, key.public)


def bind(operator, text: str) -> dict:
    answer = operator.request([DEVICE], "bind", {"ticket": text}, timeout=60)[DEVICE]
    assert answer is not None, "no answer to bind"
    return answer


def ticket_events(app: Appliance) -> list[dict]:
    return [r.data for r in chain_records(app.evidence.spool.root)
            if r.type == "EVENT" and r.data.get("kind") == "ticket"]


def test_a_ticket_sent_by_the_back_office_binds_the_next_session(unit, contract_watch,
                                                                 operator, sales_key):
    app = start(unit)
    ticket, text = issue(app, sales_key)
    answer = bind(operator, text)
    assert answer["ok"], answer
    assert answer["result"] == {"template": "quick-facts", "mode": "av",
                                "ticket_id": ticket.ticket_id,
                                "application_hash": ticket.application_hash}
    assert ticket_events(app)[-1]["status"] == "ok"

    _other, another = issue(app, sales_key)
    during: list[dict] = []
    sid = drive(app, at_node=lambda node: during.append(bind(operator, another))
                if node == "consent" else None)
    assert not during[0]["ok"] and during[0]["error"]["code"] == "rejected"
    assert "recording" in during[0]["error"]["message"]
    started = contract_watch.wait_event("session_started", lambda d: d["session_id"] == sid)
    assert (started["data"]["ticket_id"], started["data"]["application_hash"],
            started["data"]["template"]) == (ticket.ticket_id, ticket.application_hash,
                                             "quick-facts")
    ended = contract_watch.wait_event("session_ended", lambda d: d["session_id"] == sid)
    assert ended["data"]["ticket_id"] == ticket.ticket_id

    again = bind(operator, text)                 # a ticket binds one session only
    assert again["error"]["code"] == "rejected"
    assert again["error"]["message"].startswith("ticket refused (reused)")
    assert ticket_events(app)[-1]["status"] == "reused"


def test_a_bad_ticket_is_refused_with_its_reason(unit, contract_watch, operator, sales_key):
    app = start(unit)
    cases = {"forged": issue(app, DeviceKey.generate())[1],
             "expired": issue(app, sales_key, hours_ago=30)[1],
             "wrong_unit": issue(app, sales_key, scope={"devices": ["dr-another-unit"]})[1],
             "malformed": "DRT1:" + "A" * 40}
    for reason, text in cases.items():
        answer = bind(operator, text)
        assert not answer["ok"] and answer["error"]["code"] == "rejected", (reason, answer)
        assert answer["error"]["message"].startswith(f"ticket refused ({reason})"), answer
        assert ticket_events(app)[-1]["status"] == reason
    for text in ("", "D" * (MAX_TEXT_CHARS + 1)):    # bounded before anything reads it
        assert bind(operator, text)["error"]["code"] == "bad_args"
    assert app.flow.binding.ticket is None          # nothing was bound
