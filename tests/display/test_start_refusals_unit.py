"""A refused ticket on the screen of a whole simulated unit (issue 13): the appliance as
``dualrec demo`` builds it, with a sales key, the customer's screen on, and the screen hearing
the chain through :meth:`CustomerScreen.follow_chain` — wired by a subclass here, as the
appliance does with one line (``self.add_record_listener(self.screen.follow_chain(
self.evidence.event))`` after ``self.screen.start()``). A forged ticket shown to the simulated
camera at RECORD: refused on the chain, its words on the screen, neither the name nor the ID
number of the ticket anywhere the screen recorded or showed."""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import numpy as np
import pytest
from session_helpers import wait_for

from drivers.clock import SimClock
from firmware.cli.demo import demo_config
from firmware.config.loading import replace
from firmware.evidence import canonical
from firmware.evidence.chain import chain_records
from firmware.evidence.keys import DeviceKey
from firmware.ticket import encode_ticket, ticket_from_spec
from firmware.ticket.errors import DISPLAY
from firmware.ticket.qr import ticket_qr_image
from firmware.unit.appliance import Appliance

from .screen_appliance import SCRIPTS
from .screen_flow import quick_library
from .test_start_refusals import ID_NUMBER, NAME, SPEC


class ScreenOnTheChain(Appliance):
    """The appliance with the one line that lets the screen hear the chain."""

    def _build(self, config, key, hw) -> None:
        super()._build(config, key, hw)
        self.add_record_listener(self.screen.follow_chain(self.evidence.event))


@pytest.fixture
def unit(tmp_path):
    config = replace(demo_config(tmp_path / "a", "quick-reading"),
                     # a ticket's QR (~75 modules) needs more pixels than 320x240
                     camera={"width": 640, "height": 480, "fps": 15, "bitrate": 500_000},
                     session={"template": "quick-reading", "scripts_dir": str(SCRIPTS)},
                     display={"enabled": True, "listen": "127.0.0.1:0",
                              "documents": str(quick_library(tmp_path / "docs").root)},
                     ticket={"sales_public_keys": DeviceKey.generate().public.b64,
                             "used_dir": str(tmp_path / "used"), "scan_seconds": 3},
                     understanding={"enabled": False})
    app = ScreenOnTheChain(config, clock=SimClock(realtime=True, rate=3.0))
    app.hardware.camera.set_scene("face")
    app.hardware.microphone.set_source("speech")
    app.flow.request_selftest()
    app.flow.wait_idle(30)
    yield app
    app.close()


def _events(app, kind: str) -> list[dict]:
    return [r.data for r in chain_records(app.evidence.spool.root)
            if r.type == "EVENT" and r.data.get("kind") == kind]


def test_a_forged_ticket_at_record_shows_why_on_the_customers_screen(unit):
    app = unit
    server = app.screen.server
    wait_for(lambda: server.view is not None and server.view.state == "idle", what="idle")
    forger = DeviceKey.generate()             # not the sales system this unit trusts
    now = dt.datetime.fromtimestamp(app.clock.realtime_ns() / 1e9, dt.timezone.utc)
    ticket = ticket_from_spec({**SPEC, "scope": {"devices": [app.view.device_id]}}, now)
    qr = ticket_qr_image(encode_ticket(ticket, forger.sign, forger.public), module_px=4)
    app.hardware.camera.show_image(qr if qr.ndim == 3 else np.repeat(qr[:, :, None], 3, 2))
    app.hardware.panel.press("RECORD", 0.1)
    wait_for(lambda: _events(app, "record_refused"), timeout=120, what="RECORD refused")
    assert _events(app, "record_refused")[-1]["reason"] == "ticket_forged"
    app.flow.wait_idle(30)                    # the tick after the refusal has shown it
    view = server.view
    assert view.state == "refused" and view.status == DISPLAY["forged"]
    assert "签名无效" in view.status
    screen = _events(app, "screen")
    state = [r for r in screen if r["part"] == "state"][-1]
    assert state["sha256"] == hashlib.sha256(canonical.encode(view.parts()["state"])).hexdigest()
    text = json.dumps([view.parts(), screen], ensure_ascii=False)
    assert NAME not in text and ID_NUMBER not in text
    assert app.flow.active is None
