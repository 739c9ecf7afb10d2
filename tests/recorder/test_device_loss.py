"""Device loss is handled once, with one rule for every device: the GAP starts at the end of
the last thing captured from the device (frame, audio block, pen sample) and ends when it is
back or the recording ends."""
from __future__ import annotations

from firmware.evidence import records
from firmware.evidence.chain import chain_records
from firmware.unit.recorder.device_loss import DeviceLoss
from firmware.unit.recorder.sealer import Sealer


def _events(root, kind_type):
    return [r for r in chain_records(root) if r.type == kind_type]


def test_the_gap_starts_where_capture_ended(tmp_path, device_key, clock):
    from firmware.evidence.store import Evidence
    with Evidence.open(tmp_path / "s", device_key, clock) as ev:
        sid = ev.start_session()
        sealer = Sealer()
        loss = DeviceLoss(ev, sealer, sid, device="camera", stream="video")
        loss.captured(1_000)
        loss.captured(2_000)
        loss.went(5_000, "unplugged")
        loss.went(6_000, "unplugged again")     # one loss, reported once
        loss.back(9_000)
        loss.went(9_500, "gone at once")        # nothing captured since it came back
        loss.back(10_000)
        loss.captured(10_500)
        loss.went(12_000, "gone")
        loss.captured(11_000)                   # a late frame does not move an open loss
        loss.back(15_000)
        sealer.close()
        ev.end_session(sid)
    gaps = [(g.data["start_ns"], g.data["end_ns"]) for g in _events(tmp_path / "s", records.GAP)]
    assert gaps == [(2_000, 9_000), (9_000, 10_000), (10_500, 15_000)]
    lost = [e for e in _events(tmp_path / "s", records.EVENT) if e.data["kind"] == "device_lost"]
    assert [e.data["at_ns"] for e in lost] == [5_000, 9_500, 12_000]
    assert loss.spans[0] == (2_000, 9_000)
