"""The salesperson binds by showing a staff badge QR to the camera, checked against a roster
signed by the back office; a forged badge or roster is refused."""
from __future__ import annotations

import json

import pytest
from session_helpers import session_end, session_events, wait_for

from firmware.evidence.keys import DeviceKey
from firmware.people import RosterSignatureError
from firmware.people.signed_roster import load_roster
from firmware.people.signed_roster import sign_roster
from firmware.evidence.verify import verify_path
from provisioning.roster import badge_image

STAFF = {"staff_id": "S0042", "badge": 2, "valid_from": "2020-01-01", "valid_until": "2099-12-31",
         "identity": {"type": "bank_employee", "name": "张三", "agent_code": "AG0001",
                      "org_code": "ICBC0101", "gender": "M", "phone": "13812345678",
                      "channel": "bank", "outlet_code": "OUT001"}}


@pytest.fixture
def roster(tmp_path):
    key = DeviceKey.load_or_create(tmp_path / "backoffice.key")
    body = {"format": "dualrec-roster-v1", "issuer": "test back office", "serial": 1,
            "issued": "2020-01-01", "expires": "2099-12-31", "staff": [STAFF]}
    path = tmp_path / "roster.json"
    path.write_bytes(sign_roster(body, key.sign, key.public))
    return path, key


def badge_for(roster_path, key, signer):
    import datetime as dt
    entry = load_roster(roster_path, key.public, dt.date.today()).lookup("S0042", dt.date.today())
    return badge_image(entry, signer)


def test_badge_binds_the_salesperson_and_a_forged_one_is_refused(make_appliance, roster):
    path, key = roster
    app = make_appliance("quick-badge", camera={"width": 640, "height": 480, "fps": 15,
                                                "bitrate": 500_000},
                         people={"roster_file": str(path),
                                 "backoffice_public_key": key.public.b64})
    flow, panel, clock = app.flow, app.hardware.panel, app.clock
    panel.press("RECORD", 0.1)
    wait_for(lambda: flow.active is not None and bool(flow.active.nodes))
    sid = flow.active.session_id
    wait_for(lambda: flow.refusal(clock.monotonic_ns()) is None)
    panel.press("NEXT", 0.05)
    wait_for(lambda: flow.active.nodes[-1].id == "salesperson")
    app.hardware.camera.show_image(badge_for(path, key, DeviceKey.generate()))  # forged
    wait_for(lambda: session_events(app, sid, "badge_refused"), what="forged badge refused")
    wait_for(lambda: not app.prompter_playing() and flow.active.nodes[-1].photos)
    panel.press("NEXT", 0.05)
    flow.wait_idle(10)
    assert session_events(app, sid, "next_refused")[-1]["reason"] == "missing_badge"
    app.hardware.camera.show_image(badge_for(path, key, key))  # the real badge
    wait_for(lambda: session_events(app, sid, "badge"), what="badge accepted")
    wait_for(lambda: flow.refusal(clock.monotonic_ns()) is None)
    panel.press("NEXT", 0.05)
    wait_for(lambda: flow.active.complete)
    panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
    wait_for(lambda: flow.active is None)
    badge = session_events(app, sid, "badge")[0]
    assert badge["status"] == "ok" and "张三" not in json.dumps(badge, ensure_ascii=False)
    bound = json.loads((app.evidence.spool.session_dir(sid) / "salesperson.json").read_text())
    assert bound["staff_id"] == "S0042" and bound["identity"]["agent_code"] == "AG0001"
    node = next(n for n in session_end(app, sid)["nodes"] if n["id"] == "salesperson")
    assert any(e.endswith("salesperson.json") for e in node["evidence"])
    assert verify_path(app.evidence.spool.session_dir(sid)).ok


def test_a_forged_roster_stops_the_start(make_appliance, roster):
    path, key = roster
    text = path.read_text().replace("AG0001", "AG0666")  # edited after signing
    path.write_text(text)
    with pytest.raises(RosterSignatureError):
        make_appliance("quick-badge", people={"roster_file": str(path),
                                              "backoffice_public_key": key.public.b64})
