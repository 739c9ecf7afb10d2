"""A unit's agent in its own process, so a test can freeze or kill it like a dead unit.

Usage: ``python agent_child.py SETTINGS_JSON``; prints ``ready`` once connected and
subscribed, then runs until killed. Not collected by pytest (no ``test_`` prefix).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from firmware.unit.fleet.agent import FleetAgent  # noqa: E402
from firmware.unit.fleet.settings import AgentSettings  # noqa: E402
from tests.fleet.harness import FakeHooks  # noqa: E402


def main() -> None:
    values = json.loads(sys.argv[1])
    values["state_dir"] = Path(values["state_dir"])
    agent = FleetAgent(AgentSettings(**values), FakeHooks(), environ={})
    agent.start()
    if not agent.ready.wait(10):
        print("not ready", flush=True)
        sys.exit(1)
    print("ready", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
