"""Power cuts: a real process writing evidence is SIGKILLed; recovery makes it verify again."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.clock import SimClock
from firmware.cli.main import main
from firmware.evidence.store import Evidence
from firmware.evidence.keys import DeviceKey
from firmware.evidence.ledger_files import ledger_files
from firmware.evidence.recovery import recover
from firmware.evidence.verify import verify_path

WRITER = Path(__file__).resolve().parent.parent / "support" / "evidence_writer.py"
REPO = WRITER.parent.parent.parent


def kill_writer_at_random(tmp_path: Path, seed: int) -> tuple[Path, DeviceKey, list[list[str]]]:
    spool, keyfile = tmp_path / "spool", tmp_path / "device.key"
    key = DeviceKey.load_or_create(keyfile)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(WRITER), str(spool), str(keyfile), str(seed)],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "READY"
    time.sleep(random.Random(seed).uniform(0.02, 0.8))
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    complete = out.split("\n")[:-1]  # a line the kill cut short never said it was sealed
    sealed = [line.split()[1:] for line in complete if line.startswith("SEALED ")]
    return spool, key, sealed


def check_recovered(spool: Path, key: DeviceKey, sealed: list[list[str]]) -> None:
    device_id = Evidence.open.__globals__["default_device_id"](key)
    report = recover(spool, key, SimClock(), device_id=device_id)
    assert report.unclean_stop
    result = verify_path(spool)
    assert result.ok, result.to_text()
    assert any(n.kind == "gap" for n in result.notes), "the power cut must be on the record"
    # nothing sealed before the kill is missing
    for seq, *paths in sealed:
        assert int(seq) <= result.head_seq
        for path in paths:
            assert (spool / path).is_file(), path
    # a second recovery has nothing to do, and verify still passes
    assert not recover(spool, key, SimClock(), device_id=device_id).changed
    assert verify_path(spool).ok


@pytest.mark.parametrize("seed", range(5))
def test_power_cut_then_recover(tmp_path, seed):
    spool, key, sealed = kill_writer_at_random(tmp_path, seed)
    check_recovered(spool, key, sealed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 160))
def test_power_cut_then_recover_many(tmp_path, seed):
    spool, key, sealed = kill_writer_at_random(tmp_path, seed)
    check_recovered(spool, key, sealed)


def test_torn_ledger_tail_is_set_aside_not_deleted(tmp_path, device_key, clock, capsys):
    spool = tmp_path / "spool"
    with Evidence.open(spool, device_key, clock) as ev:
        sid = ev.start_session()
        ev.seal_bytes(sid, "a.bin", b"a" * 100)
    last = ledger_files(spool / "ledger")[-1]
    torn = b'{"boot_id":"x","data":{},"dev'
    with open(last, "ab") as f:
        f.write(torn)
    assert verify_path(spool).findings[0].kind == "torn_tail"
    keyfile = tmp_path / "keys" / "device.key"
    assert main(["recover", str(spool), "--key", str(keyfile)]) == 0
    assert "torn ledger bytes" in capsys.readouterr().out
    result = verify_path(spool)
    assert result.ok, result.to_text()
    rescued = list((spool / "recovered").iterdir())
    assert [p.read_bytes() for p in rescued] == [torn]


def test_part_file_and_renamed_but_unrecorded_file_are_sealed(tmp_path, device_key, clock):
    spool = tmp_path / "spool"
    ev = Evidence.open(spool, device_key, clock)
    sid = ev.start_session()
    ev.seal_bytes(sid, "seg-1.bin", b"1" * 10)
    part = ev.new_file(sid, "seg-2.bin")
    part.write(b"2" * 1000)
    part.flush()
    (spool / "sessions" / sid / "seg-3.bin").write_bytes(b"3" * 10)  # renamed, record not yet
    ev.ledger.close()  # the process dies here: no SESSION_END, no SHUTDOWN
    report = recover(spool, device_key, clock, device_id=ev.device_id)
    assert report.sealed_parts == [f"sessions/{sid}/seg-2.bin"]
    assert report.adopted == [f"sessions/{sid}/seg-3.bin"]
    assert report.closed_sessions == [sid]
    result = verify_path(spool)
    assert result.ok, result.to_text()
    assert {n.kind for n in result.notes} >= {"gap", "recovered_session"}
    # the next start of the daemon continues the same chain
    with Evidence.open(spool, device_key, clock) as again:
        again.event("boot-check")
    assert verify_path(spool).ok


def test_recover_refuses_a_spool_of_another_unit(tmp_path, spool, capsys):
    DeviceKey.load_or_create(tmp_path / "other.key")  # another unit's key
    config = tmp_path / "c.toml"
    config.write_text(f'[device]\nkey_file = "{tmp_path / "other.key"}"\n')
    assert main(["recover", str(spool.root), "--config", str(config)]) == 2
    assert "belongs to" in capsys.readouterr().err
