"""``dualrec-fleet devices`` with 5,000 units' retained states on a real broker; target ≤ 3 s.

Baseline, in the same run: ``mosquitto_sub`` reading the same 10,000 retained messages (state
and telemetry of every unit) over the same TLS listener and printing nothing. Both are timed
as an operator meets them: a fresh process, from start to exit.
"""
from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fleet.harness import Broker, FakeHooks, Pki, raw_client  # noqa: E402

from firmware.protocol.mqtt import payloads, topics  # noqa: E402
from firmware.protocol.mqtt.status import DeviceStatus  # noqa: E402

UNITS = 5000
LOADER = "bench.loader"


def _timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, **kw)
    return time.perf_counter() - start, done


def _in_process(argv: list[str]) -> float:
    """The same command inside this interpreter (imports done): what is left is MQTT + JSON."""
    from firmware.cli.fleet import main
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    elapsed = time.perf_counter() - start
    assert out.getvalue().count("\n") == UNITS + 2
    return elapsed


def _load(broker: Broker, pki: Pki) -> None:
    cert, key = pki.operator(LOADER)
    loader = raw_client(broker.operator_port, cert, key, pki.ca_file)
    snapshot = FakeHooks().telemetry()
    states = ("idle", "idle", "idle", "recording", "fault")
    now = time.time()
    for n in range(UNITS):
        device = f"dr-{n:012x}"
        branch = f"{n % 400:04d}"
        state = payloads.state_payload(device, branch, DeviceStatus(states[n % 5], ""), now)
        telemetry = payloads.telemetry_payload(device, branch, snapshot, n % 3, now)
        for leaf, body in ((topics.STATE, state), (topics.TELEMETRY, telemetry)):
            loader.client.publish(topics.device_topic(device, leaf), payloads.encode(body),
                                  qos=0, retain=True)
    last = loader.client.publish(f"{topics.DEVICES}/dr-zz-last/{topics.STATE}", b"", qos=1,
                                 retain=True)        # empty retained: stored nothing, acked
    deadline = time.monotonic() + 60
    while last.mid not in loader.pubacks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert last.mid in loader.pubacks, "the broker did not take the 10,000 retained messages"
    loader.close()


@pytest.mark.skipif(not shutil.which("mosquitto_sub"),
                    reason="needs mosquitto_sub (apt package mosquitto-clients)")
def test_devices_with_5000_units(tmp_path, record_result):
    pki = Pki(tmp_path / "pki")
    broker = Broker(tmp_path / "broker", pki, extra_acl=f"user {LOADER}\n"
                    "topic readwrite dualrec/v1/#\n").start()
    try:
        _load(broker, pki)
        cert, key = pki.operator()
        sub = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.operator_port), "-V", "5",
               "--cafile", pki.ca_file, "--cert", cert, "--key", key, "-q", "0",
               "-t", topics.all_devices(topics.STATE), "-t", topics.all_devices(topics.TELEMETRY),
               "-C", str(2 * UNITS), "-W", "30"]
        fleet = [sys.executable, "-m", "firmware.cli.fleet", "--broker", broker.operator_url,
                 "--cert", cert, "--key", key, "--ca", pki.ca_file, "devices"]
        t_sub = min(_timed(sub, stdout=subprocess.DEVNULL)[0] for _ in range(3))
        runs = [_timed(fleet, cwd=REPO, capture_output=True, text=True) for _ in range(3)]
        t_fleet = min(t for t, _ in runs)
        out = runs[0][1].stdout.splitlines()
        assert len(out) == UNITS + 2 and out[-1].startswith(f"{UNITS} units:"), out[-1]
        assert "incomplete" not in runs[0][1].stderr
        t_inproc = min(_in_process(fleet[3:]) for _ in range(3))
    finally:
        broker.stop()
    record_result("fleet_devices_5000", units=UNITS, retained_messages=2 * UNITS,
                  mosquitto_sub_s=round(t_sub, 3), devices_s=round(t_fleet, 3),
                  devices_without_interpreter_start_s=round(t_inproc, 3),
                  ratio=round(t_fleet / t_sub, 2), target="devices_s <= 3")
    assert t_fleet <= 3.0
