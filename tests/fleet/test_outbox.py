"""The durable outbox on its own: order, restarts, torn and corrupted files."""
from __future__ import annotations

import pytest

from firmware.protocol.mqtt.errors import OutboxCorruptError
from firmware.unit.fleet.outbox import Outbox


def test_order_survives_reopening(tmp_path):
    box = Outbox(tmp_path / "outbox")
    for i in range(5):
        box.put("event", {"n": i})
    box.remove(box.peek())
    again = Outbox(tmp_path / "outbox")
    assert len(again) == 4
    seen = []
    while (entry := again.peek()) is not None:
        seen.append(entry.payload["n"])
        again.remove(entry)
    assert seen == [1, 2, 3, 4]
    assert Outbox(tmp_path / "outbox").peek() is None
    entry = again.put("checkpoint", {"seq": 9})
    assert entry.path.name == "000000000001.json"


def test_a_half_written_file_is_not_a_message(tmp_path):
    box = Outbox(tmp_path / "outbox")
    box.put("event", {"n": 1})
    (tmp_path / "outbox" / "000000000002.tmp").write_bytes(b'{"v":1,"ki')  # power cut mid-put
    again = Outbox(tmp_path / "outbox")
    assert len(again) == 1
    assert not list((tmp_path / "outbox").glob("*.tmp"))


def test_a_corrupted_file_is_named_set_aside_and_the_rest_delivered(tmp_path):
    box = Outbox(tmp_path / "outbox")
    for i in range(3):
        box.put("event", {"n": i})
    bad = tmp_path / "outbox" / "000000000002.json"
    bad.write_bytes(b"\x00\xffnot json")
    again = Outbox(tmp_path / "outbox")
    first = again.peek()
    again.remove(first)
    with pytest.raises(OutboxCorruptError, match=str(bad)) as exc:
        again.peek()
    assert "corrupt/000000000002.json" in str(exc.value)
    assert (tmp_path / "outbox" / "corrupt" / "000000000002.json").read_bytes().startswith(b"\x00")
    assert again.peek().payload == {"n": 2}


def test_kind_is_checked(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        Outbox(tmp_path / "o").put("telemetry", {})
