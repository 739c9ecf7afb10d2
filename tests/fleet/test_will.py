"""A dead unit shows offline: the broker publishes its Last Will."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmware.protocol.mqtt import topics
from tests.fleet.harness import wait_until

A = "dr-unit-a"
CHILD = Path(__file__).with_name("agent_child.py")
MOSQUITTO_KEEPALIVE_CHECK_S = 6


def state(operator) -> dict:
    msgs, _ = operator.retained([topics.device_topic(A, topics.STATE)])
    return json.loads(msgs[0].payload) if msgs else {}


@pytest.mark.parametrize("death", ["frozen", "killed"])
def test_a_dead_unit_shows_offline_within_its_keepalive(broker, pki, operator, tmp_path,
                                                         death):
    cert, key = pki.unit(A)
    keepalive = 1
    settings = dict(device_id=A, state_dir=str(tmp_path / "state"), url=broker.unit_url,
                    client_cert=cert, client_key=key, ca_file=pki.ca_file, branch="0451",
                    keepalive_s=keepalive, telemetry_interval_s=0.5)
    proc = subprocess.Popen([sys.executable, str(CHILD), json.dumps(settings)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        wait_until(lambda: state(operator).get("state") == "idle", what="online")
        start = time.monotonic()
        # frozen: the socket stays open but silent (a hung unit, a cut cable); killed: the
        # kernel closes the socket without an MQTT DISCONNECT
        os.kill(proc.pid, signal.SIGSTOP if death == "frozen" else signal.SIGKILL)
        wait_until(lambda: state(operator).get("state") == "offline", timeout=12,
                   what="the Last Will")
        elapsed = time.monotonic() - start
        gone = state(operator)
        assert gone["online"] is False and gone["detail"] == "connection lost"
        # the broker acts 1.5 x keepalive after the last packet; mosquitto 2.0.11 looks at
        # keepalives only every ~6 s (src/keepalive.c), hence the slack
        assert elapsed <= 1.5 * keepalive + MOSQUITTO_KEEPALIVE_CHECK_S + 1.5, elapsed
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_a_clean_stop_says_stopped(make_agent, hooks, operator):
    agent = make_agent(hooks)
    wait_until(lambda: state(operator).get("state") == "idle")
    agent.stop()
    agent.stop()                                     # safe twice
    gone = state(operator)
    assert (gone["state"], gone["detail"], gone["online"]) == ("offline", "stopped", False)
