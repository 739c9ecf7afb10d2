"""A unit whose ledger was damaged refuses RECORD until a person acknowledges the damage
(issue 11, B): someone with the SD card flips a byte in a complete ledger line, the unit
restarts, records a DAMAGE record and shows the fault on the STATUS LED and in its status;
RECORD is refused with ``evidence_damaged`` and nothing is recorded; after ``dualrec damage
ack`` RECORD starts a session again."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Callable

from drivers.clock import SimClock
from firmware.cli.demo import demo_config
from firmware.cli.main import main as dualrec
from firmware.config.loading import replace
from firmware.evidence import records
from firmware.evidence.ledger_files import ledger_files, read_lines
from firmware.evidence.records import Record
from firmware.unit.appliance import Appliance


class RecordLog:
    """Every record the appliance made durable, and a wait on them (no polling)."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._changed = threading.Condition()

    def __call__(self, record: Record) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()

    def wait(self, match: Callable[[Record], bool], what: str, timeout: float = 120) -> Record:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((r for r in self.records if match(r)), None), timeout)
        assert found is not None, f"timed out waiting for {what}"
        return found

    def of_type(self, kind: str) -> list[Record]:
        with self._changed:
            return [r for r in self.records if r.type == kind]


def event(kind: str) -> Callable[[Record], bool]:
    return lambda r: r.type == records.EVENT and r.data.get("kind") == kind


def flip_a_byte_in_the_last_complete_line(ledger_dir: Path) -> None:
    """What tests/evidence/test_recovery_attacks.py does: the line still ends with LF."""
    newest = ledger_files(ledger_dir)[-1]
    data = bytearray(newest.read_bytes())
    lines = data.split(b"\n")
    last = len(data) - len(lines[-2]) - 1
    data[last + 30] ^= 0x01
    newest.write_bytes(bytes(data))


def test_a_damaged_unit_refuses_record_until_the_damage_is_acknowledged(tmp_path, capsys):
    socket = tmp_path / "control.sock"
    config = replace(demo_config(tmp_path), understanding={"enabled": False},
                     camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000},
                     control={"socket": str(socket)})
    Appliance(config, clock=SimClock(realtime=True)).close()   # a unit with some history
    flip_a_byte_in_the_last_complete_line(Path(config.spool.path) / "ledger")

    log = RecordLog()
    app = Appliance(config, clock=SimClock(realtime=True), on_record=log)
    try:
        panel = app.hardware.panel
        recovery = app.evidence.recovery           # the DAMAGE record is made before BOOT
        assert [d.kind for d in recovery.damage] == ["bad_signature"]
        [damage] = [r for path in ledger_files(Path(config.spool.path) / "ledger")
                    for r in (ln.record for ln in read_lines(path))
                    if r is not None and r.type == records.DAMAGE]
        assert damage.seq == recovery.damage_seq
        assert app.evidence.unacknowledged_damage() == [damage.seq]
        # the fault shows before anyone presses anything
        assert set(app.light.faults) == {"evidence"}
        assert panel.led_mode("status") == "blink"
        status = app.status()
        assert status["damage_unacknowledged"] == [damage.seq]
        assert status["recording_blocked"]["reason"] == "evidence_damaged"
        assert "dualrec damage ack" in status["recording_blocked"]["detail"]
        assert app.view.state().state == "fault"

        panel.press("RECORD", 0.1)
        refused = log.wait(event("record_refused"), "RECORD refused")
        assert refused.data["reason"] == "evidence_damaged"
        assert refused.session is None
        app.flow.wait_idle(30)
        assert app.flow.active is None and app.status()["session"] is None
        assert log.of_type(records.SESSION_START) == []
        assert set(app.light.faults) == {"evidence"}
        assert app.status()["damage_unacknowledged"] == [damage.seq]

        capsys.readouterr()
        assert dualrec(["damage", "ack", "--socket", str(socket), "--by", "tech 7"]) == 0
        assert json.loads(capsys.readouterr().out) == {"acknowledged": [damage.seq]}
        acked = log.wait(event("damage_acknowledged"), "the acknowledgement on the chain")
        assert acked.data["damage_records"] == [damage.seq] and acked.data["by"] == "tech 7"
        assert app.light.faults == {}
        status = app.status()
        assert status["damage_unacknowledged"] == [] and status["recording_blocked"] is None

        panel.press("RECORD", 0.1)
        started = log.wait(lambda r: r.type == records.SESSION_START, "the session's start")
        panel.press("RECORD", config.panel.hold_seconds + 0.3)
        log.wait(lambda r: r.type == records.SESSION_END and r.session == started.session,
                 "the session's end")
        app.flow.wait_idle(30)
        # the refusal's transient signal (2 s) is long over after the 2 s hold: online again
        assert panel.led_mode("status") == "solid"
        assert [r.data["reason"] for r in log.records if event("record_refused")(r)] == \
            ["evidence_damaged"]
    finally:
        app.close()
