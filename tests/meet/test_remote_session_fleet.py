"""The meeting on the unit's one MQTT connection (issue 17): the appliance as the daemon builds
it holds its meeting on the fleet agent's own client (the broker forces a unit's client id to
its certificate's name, so a second connection would take the agent's place). When the broker
drops the agent and it reconnects (a clean start forgets subscriptions), the meeting's topics
are subscribed again and a remote party still joins; a unit without a fleet connection makes
the meeting unavailable instead of waiting for nobody; a unit with ``[meet]`` off never loads
the meeting or the media code.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from drivers.clock import SimClock
from firmware.evidence.keys import DeviceKey
from firmware.evidence.verify import verify_path
from firmware.unit.appliance import Appliance
from tests.meet.conftest import ZHAO_ID
from tests.meet.counter_unit import (WAIT, bind, events, finish, press_next, prompt_done,
                                     sale_spec, unit_config)
from tests.meet.parts import TIMEOUT, mqtt_client, record_and_read_notice
from tests.meet.remote_phone import Phone
from tests.meet.test_remote_session import DEVICE, counter  # noqa: F401
from tests.remote.remote_rig import RecordWatch, write_tone_wav

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "tests" / "meet" / "scripts"


def take_over_the_units_connection(broker, pki) -> None:
    """Connect with the unit's certificate and client id (the broker then drops the agent's
    connection) and leave at once."""
    cert, key = pki.unit(DEVICE)
    intruder = mqtt_client(broker.unit_port, cert, key, pki.ca_file, DEVICE)
    connected = threading.Event()

    def on_connect(client, userdata, flags, rc, props):
        connected.set()
        client.disconnect()
    intruder.on_connect = on_connect
    intruder.connect("127.0.0.1", broker.unit_port, keepalive=30, clean_start=True)
    intruder.loop_start()
    try:
        assert connected.wait(TIMEOUT), "the second connection was not accepted"
    finally:
        intruder.loop_stop()


def test_the_meeting_is_subscribed_again_when_the_agent_reconnects(
        counter, broker, pki, relays, watch, tmp_path):
    app, records, _sales = counter
    relay = relays()
    phone = None
    try:
        notice = record_and_read_notice(app, broker, pki)
        records.wait(lambda w: events(w, "node_start", node="consent"), WAIT)
        assert app.uplinks.meeting_bus() is app.uplinks.meeting_bus()    # one bus per agent

        reconnected = threading.Event()
        app.agent.share_connection(reconnected.set)   # runs after the meeting's resubscribe
        take_over_the_units_connection(broker, pki)
        assert reconnected.wait(WAIT), "the fleet agent did not come back"
        assert app.agent.ready.wait(WAIT)

        prompt_done(records, "consent")
        press_next(app, records, refused="remote_not_joined")
        phone = Phone(relay.url, notice["meeting"], write_tone_wav(tmp_path / "tone.wav"))
        admitted = phone.join(notice["code"], [0], "赵敏", ZHAO_ID[-4:])
        assert admitted["roles"] == ["policyholder"]
        phone.call()
        records.wait(lambda w: events(w, "remote_joined", party="p1"), WAIT)
        press_next(app, records, expect_node="facts")
        for node, after in (("facts", "close"), ("close", None)):
            prompt_done(records, node)
            press_next(app, records, expect_node=after)
        finish(app, records)
    finally:
        if phone is not None:
            phone.close()
    assert phone.errors == []
    assert verify_path(app.evidence.spool.root).ok


@pytest.fixture
def unconnected(tmp_path, broker, pki):
    """The same unit, its fleet agent never started (no broker reached yet)."""
    sales = DeviceKey.load_or_create(tmp_path / "sales" / "sales.key")
    watch = RecordWatch()
    app = Appliance(unit_config(tmp_path / "unit", broker, pki, sales, device=DEVICE,
                                template="remote-quick", scripts=SCRIPTS),
                    clock=SimClock(realtime=True, synced=True), on_record=watch)
    try:
        bind(app, sales, sale_spec(app.evidence.device_id))
        yield app, watch
    finally:
        app.close()


def test_without_a_fleet_connection_the_meeting_is_unavailable(unconnected):
    app, records = unconnected
    assert app.uplinks.meeting_bus() is None
    app.hardware.panel.press("RECORD", 0.1)
    records.wait(lambda w: events(w, "remote_meeting", event="unavailable"), WAIT)
    records.wait(lambda w: events(w, "node_start", node="consent"), WAIT)
    prompt_done(records, "consent")
    press_next(app, records, refused="remote_unavailable")
    assert "meeting broker" in events(records, "remote_meeting", event="unavailable")[0]["reason"]


CHILD = """
import json, sys
from pathlib import Path
from drivers.clock import SimClock
from firmware.cli.demo import demo_config
from firmware.config.loading import replace
from firmware.unit.appliance import Appliance
config = replace(demo_config(Path(sys.argv[1]), "remote-quick"),
                 session={"template": "remote-quick", "scripts_dir": sys.argv[2]},
                 understanding={"enabled": False},
                 camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000})
app = Appliance(config, clock=SimClock(realtime=True, synced=True))
try:
    print(json.dumps({"bus": app.uplinks.meeting_bus() is None, "loaded": sorted(
        m for m in sys.modules if m.split(".")[0] == "aiortc" or m == "firmware.unit.remote"
        or m.startswith(("firmware.unit.meet", "firmware.unit.remote.")))}))
finally:
    app.close()
"""


def test_a_unit_with_meet_off_loads_no_meeting_or_media_code(tmp_path):
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "unit"), str(SCRIPTS)],
                         cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"bus": True, "loaded": []}
