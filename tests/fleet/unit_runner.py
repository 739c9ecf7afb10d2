"""The appliance on simulated hardware as `dualrec run` runs it, connected to the test's broker
(project config, TLS, ACL), for the tests that hold the unit to the contract. Not collected by
pytest (no ``test_`` prefix)."""
from __future__ import annotations

import threading
from pathlib import Path

from drivers.clock import SimClock
from firmware.config.loading import replace
from firmware.config.model import Config
from firmware.unit.appliance import Appliance
from firmware.cli.demo import demo_config
from firmware.unit.remote_config import with_desired_config

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "tests" / "session" / "scripts"
DEVICE = "dr-contract-unit"


def unit_config(root: Path, *, url: str, cert: str, key: str, ca: str) -> Config:
    """A small simulated unit (320x240, the 4-node ``quick`` script) under ``root``."""
    return replace(demo_config(root, "quick"),
                   device={"id": DEVICE, "key_file": str(root / "keys" / "device.key")},
                   camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000},
                   session={"template": "quick", "scripts_dir": str(SCRIPTS)},
                   understanding={"enabled": False},
                   mqtt={"url": url, "client_cert": cert, "client_key": key, "ca_file": ca,
                         "branch": "0451", "telemetry_interval_s": 30.0,
                         "reconnect_min_s": 0.1, "reconnect_max_s": 0.5})


class UnitRunner:
    """Starts the unit (its effective configuration at each start, as the daemon does),
    records the exit codes it asks for, closes it."""

    def __init__(self, root: Path, **mqtt: str) -> None:
        self.root = root
        self.mqtt = mqtt
        self.base = unit_config(root, **mqtt)
        self.app: Appliance | None = None
        self.stop_requests: list[int] = []
        self.stopped = threading.Event()

    def start(self, *, supervised: bool = True, logs: str = "a line this process kept\n"
              ) -> Appliance:
        self.app = Appliance(with_desired_config(self.base),
                             clock=SimClock(realtime=True, rate=6.0))
        self.app.hardware.camera.set_scene("face")
        self.app.hardware.microphone.set_source("speech")
        self.app.start_fleet(request_stop=self._request_stop, logs=lambda n: logs,
                             supervised=supervised)
        assert self.app.agent.ready.wait(20), "the unit did not connect"
        self.app.flow.request_selftest()
        self.app.flow.wait_idle(60)
        return self.app

    def _request_stop(self, code: int) -> None:
        self.stop_requests.append(code)
        self.stopped.set()

    def close(self) -> None:
        if self.app is not None:
            self.app.close()
            self.app = None
