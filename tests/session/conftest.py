"""An appliance on simulated hardware, as `dualrec demo` builds it, for session tests."""
from __future__ import annotations


from pathlib import Path

import pytest

from drivers.clock import SimClock
from firmware.unit.appliance import Appliance
from firmware.config.loading import replace
from firmware.cli.demo import demo_config

SPEED = 6.0
SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.fixture
def make_appliance(tmp_path):
    made = []

    def make(template: str = "bank-life", *, mode: str = "av", speed: float = SPEED,
             synced: bool = True, selftest: bool = True, prepare: bool = True,
             **sections) -> Appliance:
        scripts = str(SCRIPTS) if template.startswith("quick") else ""
        config = replace(demo_config(tmp_path / f"a{len(made)}", template),
                         camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000},
                         session={"template": template, "mode": mode, "scripts_dir": scripts},
                         # answers only as a sound: understanding has tests of its own
                         understanding={"enabled": False})
        if sections:
            config = replace(config, **sections)
        app = Appliance(config, clock=SimClock(realtime=True, rate=speed, synced=synced))
        made.append(app)
        app.hardware.camera.set_scene("face")
        app.hardware.microphone.set_source("speech")
        if selftest:
            app.flow.request_selftest()
            app.flow.wait_idle(30)
        app.flow.wait_idle(30)
        if prepare:
            assert app.flow.prompter.wait_prepared(900), "the prompts were not rendered"
        return app

    yield make
    for app in made:
        app.close()

