"""A simulated appliance with its fleet agent in its own process, so a test can kill it in the
middle of a recording as a power cut or a crash would.

Usage: ``python appliance_child.py CONFIG_JSON``: builds the appliance from the JSON of
:func:`tests.fleet.test_contract_appliance.unit_config`'s arguments, connects, starts a session,
prints ``recording <session id>`` once recording, then waits to be killed. Not collected by
pytest (no ``test_`` prefix).
"""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "session"), str(REPO / "tests")]

from drivers.clock import SimClock  # noqa: E402
from firmware.unit.appliance import Appliance  # noqa: E402
from tests.fleet.unit_runner import unit_config  # noqa: E402


def main() -> None:
    args = json.loads(sys.argv[1])
    config = unit_config(Path(args["root"]), **args["mqtt"])
    app = Appliance(config, clock=SimClock(realtime=True, rate=6.0))
    app.hardware.camera.set_scene("face")
    app.hardware.microphone.set_source("speech")
    app.start_fleet(request_stop=lambda code: None, logs=lambda n: "", supervised=True)
    if not app.agent.ready.wait(20):
        print("not ready", flush=True)
        sys.exit(1)
    app.flow.request_selftest()
    app.flow.wait_idle(60)
    app.hardware.panel.press("RECORD", 0.1)
    recording = threading.Event()
    while not recording.wait(0.05):
        if app.flow.active is not None and app.flow.active.nodes:
            recording.set()
    print(f"recording {app.flow.active.session_id}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
