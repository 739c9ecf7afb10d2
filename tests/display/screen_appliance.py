"""A simulated appliance with its customer's screen on, for the screen's session tests.

Import the fixture into a test module (``from .screen_appliance import screen_appliance``).
The appliance is what ``dualrec demo`` builds (simulated hardware, the real pipeline), with
``[display] enabled`` on a free loopback port, the templates of ``tests/display/scripts`` and a
copy of the sample document library whose pages need ``min_page_seconds`` each.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Callable, Iterator

import pytest

from drivers.clock import SimClock
from firmware.config.loading import replace
from firmware.people.id_documents import gb11643_check_char
from firmware.unit.appliance import Appliance
from firmware.cli.demo import demo_config

from .screen_flow import quick_library

SCRIPTS = Path(__file__).resolve().parent / "scripts"
SPEED = 3.0


def citizen(birth: dt.date, seq: str = "123") -> str:
    first17 = f"110105{birth:%Y%m%d}{seq}"
    return first17 + gb11643_check_char(first17)


def people_json(remote_insured: bool = False) -> bytes:
    """A policyholder 王小明, an insured 李晓红 and the salesperson 张伟 (docs/people.md)."""
    people = {
        "application_number": "TB2026112400001", "session_date": dt.date.today().isoformat(),
        "salesperson": {"type": "bank_employee", "name": "张伟", "agent_code": "AG0001",
                        "org_code": "ICBC0101", "gender": "M", "phone": "13812345678",
                        "channel": "bank", "outlet_code": "OUT001"},
        "customers": [{"role": "policyholder", "name": "王小明", "id_type": "resident_id",
                       "id_number": citizen(dt.date(1980, 3, 1))},
                      {"role": "insured", "name": "李晓红", "id_type": "resident_id",
                       "id_number": citizen(dt.date(1985, 6, 2), "246")}]}
    return json.dumps(people, ensure_ascii=False).encode()


@pytest.fixture
def screen_appliance(tmp_path) -> Iterator[Callable[..., Appliance]]:
    """``screen_appliance(template, *, min_page_seconds, library_dir, speed, **sections)``:
    a started appliance whose self-test has passed; closed at the end of the test."""
    made: list[Appliance] = []

    def make(template: str = "quick-reading", *, min_page_seconds: float = 0.3,
             library_dir: Path | None = None, speed: float = SPEED, **sections) -> Appliance:
        if library_dir is None:
            library_dir = tmp_path / f"docs{len(made)}"
            quick_library(library_dir, min_page_seconds)
        config = replace(demo_config(tmp_path / f"a{len(made)}", template),
                         camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000},
                         session={"template": template, "scripts_dir": str(SCRIPTS)},
                         display={"enabled": True, "listen": "127.0.0.1:0",
                                  "documents": str(library_dir)},
                         understanding={"enabled": False})
        if sections:
            config = replace(config, **sections)
        app = Appliance(config, clock=SimClock(realtime=True, rate=speed))
        made.append(app)
        app.hardware.camera.set_scene("face")
        app.hardware.microphone.set_source("speech")
        app.flow.request_selftest()
        app.flow.wait_idle(30)
        return app

    yield make
    for app in made:
        app.close()
