"""The whole appliance connected: a session on simulated hardware is reported to the fleet
over a real mosquitto (project config, TLS, ACLs) and its evidence lands in a real S3 server,
verifiable from the bucket; fleet commands reach the appliance."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time

import boto3
import pytest
from moto.server import ThreadedMotoServer
from session_helpers import drive, wait_for

from drivers.clock import SimClock
from firmware.unit.appliance import Appliance
from firmware.config.loading import replace
from firmware.cli.demo import demo_config
from firmware.office.fleet.operator import OperatorClient
from tests.fleet.harness import Broker, Pki
from tests.session.conftest import SCRIPTS

DEVICE = "dr-e2e-unit"


@pytest.fixture
def s3(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-unit")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
        Bucket="insurer-evidence", ObjectLockEnabledForBucket=True)
    yield endpoint
    server.stop()
    server._server.server_close()


def test_a_session_reaches_the_fleet_and_the_bucket(tmp_path, s3):
    pki = Pki(tmp_path / "pki")
    broker = Broker(tmp_path / "broker", pki).start()
    cert, key = pki.unit(DEVICE)
    config = replace(demo_config(tmp_path / "unit", "quick"),
                     device={"id": DEVICE, "key_file": str(tmp_path / "unit" / "device.key")},
                     camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000},
                     session={"template": "quick", "scripts_dir": str(SCRIPTS)},
                     understanding={"enabled": False},
                     mqtt={"url": broker.unit_url, "client_cert": cert, "client_key": key,
                           "ca_file": pki.ca_file, "branch": "0451",
                           "telemetry_interval_s": 5.0},
                     sync={"enabled": True, "endpoint": s3, "bucket": "insurer-evidence",
                           "prefix": "branch-0451", "interval_s": 1.0, "keep_local_days": 0.0})
    op_cert, op_key = pki.operator()
    events: list[dict] = []
    stop_restart = threading.Event()
    app = Appliance(config, clock=SimClock(realtime=True, rate=6.0))
    try:
        app.start_fleet(request_stop=lambda code: stop_restart.set(), logs=lambda n: "log")
        assert app.agent.ready.wait(10)
        with OperatorClient(broker.operator_url, cert=op_cert, key=op_key,
                            ca_file=pki.ca_file, timeout=10) as watcher, \
                OperatorClient(broker.operator_url, cert=op_cert, key=op_key,
                               ca_file=pki.ca_file, timeout=10) as op:
            follower = threading.Thread(target=watcher.follow, daemon=True, kwargs=dict(
                filters=[f"dualrec/v1/devices/{DEVICE}/events"],
                on_message=lambda m: events.append(json.loads(m.payload)) or True,
                duration=120))
            follower.start()
            time.sleep(0.5)
            app.flow.request_selftest()
            sid = drive(app)
            wait_for(lambda: any(e.get("kind") == "session_ended" for e in events),
                     timeout=30, what="session_ended event")
            ended = next(e for e in events if e.get("kind") == "session_ended")
            assert any(e.get("kind") == "selftest" for e in events), events
            assert ended["data"]["session_id"] == sid and ended["data"]["verdict"] == "pass"
            answers = op.request([DEVICE], "status")
            assert answers[DEVICE]["ok"], answers
            answers = op.request([DEVICE], "verify", timeout=60)
            assert answers[DEVICE]["ok"], answers
            retained, _complete = op.retained([f"dualrec/v1/devices/{DEVICE}/checkpoint"])
            assert retained, "the session's CHECKPOINT is witnessed by the fleet"
            witness = tmp_path / "witness.json"
            witness.write_bytes(retained[0].payload)
        # the evidence reaches the bucket; confirmed files are freed locally (a signed GAP)
        wait_for(lambda: app.uploader.backlog().items == 0, timeout=60, what="backlog drained")
        head = app.evidence.ledger.head
    finally:
        app.close()
        broker.stop()
    out = subprocess.run([sys.executable, "-m", "firmware.cli.main", "verify",
                          f"s3://insurer-evidence/branch-0451/{DEVICE}", "--endpoint", s3],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert head.seq > 0
    local = subprocess.run([sys.executable, "-m", "firmware.cli.main", "verify",
                            str(tmp_path / "unit" / "spool"), "--checkpoint", str(witness)],
                           capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stdout + local.stderr
    assert "pruned" in local.stdout  # media confirmed in the bucket was freed, on the record
