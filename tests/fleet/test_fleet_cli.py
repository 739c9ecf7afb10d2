"""``dualrec-fleet`` against a real broker with running agents."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from firmware.protocol.mqtt import topics
from firmware.protocol.mqtt.status import DeviceStatus
from firmware.cli.fleet import main
from tests.fleet.harness import REPO, FakeHooks, raw_client, wait_until

A, B, C = "dr-unit-a", "dr-unit-b", "dr-unit-c"


@pytest.fixture
def cli(broker, pki, capsys):
    cert, key = pki.operator()
    base = ["--broker", broker.operator_url, "--cert", cert, "--key", key, "--ca", pki.ca_file,
            "--timeout", "5"]

    def run(*args: str) -> tuple[int, str, str]:
        code = main(base + list(args))
        out, err = capsys.readouterr()
        return code, out, err
    run.base = base
    return run


@pytest.fixture
def fleet(make_agent, operator):
    a, b, c = FakeHooks(), FakeHooks(), FakeHooks()
    b.state = DeviceStatus("recording", "session 20240501T081500Z-3fa2c1")
    b.snapshot_extra = {"disk_free_bytes": 1_000_000_000, "clock_synced": False,
                        "camera": "fault"}
    agents = {A: make_agent(a, A), B: make_agent(b, B, branch="0452"), C: make_agent(c, C)}
    wait_until(lambda: len(operator.retained([topics.all_devices(topics.TELEMETRY)])[0]) == 3,
               what="the telemetry of the three units")
    return agents, {A: a, B: b, C: c}


def test_devices_table_and_json(fleet, cli):
    code, out, _ = cli("devices")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["DEVICE", "BRANCH", "STATE"]
    row_b = next(line for line in lines if line.startswith(B))
    for cell in ("0452", "recording", "1.0GB (2%)", "UNSYNCED", "0.1.0", "7:abababababab",
                 "disk-low", "clock-unsynced", "camera-fault", "pad-missing",
                 "last-session:silent_answer"):
        assert cell in row_b, cell
    assert lines[-1].startswith("3 units: 2 idle, 1 recording")
    code, out, _ = cli("devices", "--json", "--branch", "0451")
    rows = json.loads(out)
    assert [r["device"] for r in rows] == [A, C]
    assert rows[0]["backlog_count"] == 3 and rows[0]["clock_synced"] is True


def test_cmd_one_unit_a_branch_and_a_repeat(fleet, cli):
    agents, hooks = fleet
    code, out, _ = cli("cmd", A, "ping")
    assert code == 0 and out.startswith(f"{A}  ok") and '"pong": true' in out
    code, out, _ = cli("cmd", "--branch", "0451", "--id", "loc-7", "locate", "seconds=3")
    assert code == 0 and out.count("  ok") == 2 and B not in out
    code, out, _ = cli("cmd", "--branch", "0451", "--id", "loc-7", "locate", "seconds=3")
    assert code == 0 and out.count("answered again, not run again") == 2
    assert hooks[A].called("locate") == hooks[C].called("locate") == [(3,)]
    code, out, _ = cli("cmd", "--json", B, "set-config", "version=2",
                       'desired={"recorder": {"segment_seconds": 50}}')
    assert code == 1 and json.loads(out)[B]["error"]["code"] == "rejected"


def test_cmd_failures(fleet, cli):
    code, out, _ = cli("cmd", "--wait", "0.5", "dr-unit-z", "ping")
    assert code == 1 and "no answer within 0.5 s" in out
    code, _, err = cli("cmd", A, "format-disk")
    assert code == 2 and "unknown command 'format-disk'" in err
    code, _, err = cli("cmd", "--branch", "9999", "ping")
    assert code == 2 and "no units of branch '9999'" in err


def test_unreachable_broker_and_wrong_certificate(pki, broker, capsys):
    cert, key = pki.unit(A)     # a unit's certificate on the operators' listener
    code = main(["--broker", broker.operator_url, "--cert", cert, "--key", key, "--ca",
                 pki.ca_file, "--timeout", "1", "devices"])
    assert code == 2 and "dualrec-fleet devices:" in capsys.readouterr().err
    code = main(["--broker", "mqtts://127.0.0.1:9", "--timeout", "1", "devices"])
    assert code == 2 and "cannot reach the broker" in capsys.readouterr().err


def test_watch_saves_witnesses_and_witness_finds_a_rollback(make_agent, cli, tmp_path,
                                                            device_key, clock):
    from firmware.evidence.store import Evidence
    agent = make_agent(FakeHooks(), A)
    wdir = tmp_path / "witnesses"
    watch = subprocess.Popen([sys.executable, "-m", "firmware.cli.fleet", *cli.base, "watch",
                              "--device", A, "--json", "--save-witnesses", str(wdir),
                              "--duration", "20"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(watch.stdout.readline())          # A's retained state: subscribed
        assert first["topic"].endswith(f"{A}/state")
        spool = tmp_path / "spool"
        published = []

        def on_record(record):
            agent.on_record(record)
            if record.type == "CHECKPOINT":
                published.append(record.seq)
        with Evidence.open(spool, device_key, clock, device_id=A, checkpoint_every=5,
                           on_record=on_record) as ev:
            sid = ev.start_session()
            ev.seal_bytes(sid, "photo-01.jpg", b"\xff\xd8" + b"x" * 100, {"stream": "photo"})
            ev.end_session(sid)
        old = tmp_path / "old-spool"
        shutil.copytree(spool, old)                           # the unit as it was then
        with Evidence.open(spool, device_key, clock, device_id=A, checkpoint_every=5,
                           on_record=on_record) as ev:
            for _ in range(6):
                ev.event("press", {"button": "NEXT"})
        wait_until(lambda: sorted(int(p.stem) for p in (wdir / A).glob("*.json"))
                   == sorted(set(published)), timeout=10, what="every checkpoint saved")
    finally:
        watch.kill()
        watch.wait()
        watch.stdout.close()
    code, out, _ = cli("witness", str(spool), "--dir", str(wdir))
    assert code == 0 and "witness: CONSISTENT" in out
    code, out, _ = cli("witness", str(old), "--dir", str(wdir))
    assert code == 1 and "[rollback]" in out and "NOT CONSISTENT" in out
    wait_until(lambda: cli("witness", str(old))[0] == 1, what="the retained checkpoint")
    code, out, _ = cli("witness", "--json", str(spool))
    assert code == 0 and json.loads(out)["consistent"] is True


def test_watch_check_holds_every_unit_to_the_contract(fleet, cli, broker, pki, contract_watch):
    code, out, err = cli("watch", "--check", "--strict", "--duration", "1.5")
    assert code == 0, out + err
    assert "CONTRACT" not in out
    z = "dr-unit-z"                                     # a unit with a broken firmware
    contract_watch.ignore(z)
    cert, key = pki.unit(z)
    raw = raw_client(broker.unit_port, cert, key, pki.ca_file)
    info = raw.client.publish(topics.device_topic(z, topics.TELEMETRY),
                              b'{"v": 1, "device": "dr-unit-z", "disk": "full"}', qos=1,
                              retain=True)
    wait_until(lambda: info.mid in raw.pubacks, what="PUBACK")
    raw.close()
    code, out, err = cli("watch", "--check", "--duration", "1.5")
    assert code == 1 and "message(s) broke the contract" in err
    assert f"CONTRACT dualrec/v1/devices/{z}/telemetry: $.disk: 'full' is not of type " \
           "'object'" in out
