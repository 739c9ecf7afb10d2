"""A cut tail (issue 11, E): without a witness, a chain cut after a session's last record is
self-consistent; the session verified on its own says it has no end, and a checkpoint
published during the recording catches the cut."""
from __future__ import annotations

from drivers.clock import SimClock
from firmware.evidence import records
from firmware.evidence.store import Evidence
from firmware.evidence.ledger_files import ledger_files, read_lines
from firmware.evidence.verify import verify_path


def _record_session(root, key, clock, seconds: int = 40):
    """A recording of ``seconds``: a sealed segment every second on the clock."""
    ev = Evidence.open(root, key, clock, checkpoint_every=1000, checkpoint_seconds=5)
    sid = ev.start_session()
    for i in range(seconds):
        clock.advance(1)
        ev.seal_bytes(sid, f"audio-{i:06d}.wav", b"RIFF" + bytes([i]) * 64,
                      {"stream": "audio"})
    ev.end_session(sid)
    ev.close()
    return sid


def _all(root):
    return [ln.record for p in ledger_files(root / "ledger") for ln in read_lines(p)]


def test_checkpoints_are_published_every_few_seconds_while_recording(tmp_path, device_key):
    clock = SimClock(realtime=False)
    sid = _record_session(tmp_path / "s", device_key, clock)
    cps = [r for r in _all(tmp_path / "s") if r.type == records.CHECKPOINT]
    during = [r for r in cps if r.body["mono_ns"] < max(
        r2.body["mono_ns"] for r2 in _all(tmp_path / "s") if r2.session == sid)]
    assert len(during) >= 7, [r.seq for r in cps]      # 40 s of media, one every 5 s
    assert verify_path(tmp_path / "s").ok               # records_since_checkpoint exact


def test_a_cut_session_end_is_a_finding_for_the_session_and_caught_by_a_witness(tmp_path,
                                                                               device_key):
    clock = SimClock(realtime=False)
    root = tmp_path / "s"
    sid = _record_session(root, device_key, clock)
    recs = _all(root)
    published = [r for r in recs if r.type == records.CHECKPOINT and r.session is None
                 and r.seq > recs[-1].seq - 20]
    witness = published[0]
    # the outsider: cut the last 30 s of the session (and its end), delete those files
    cut_from = next(r.seq for r in recs if r.session == sid and r.files
                    and r.files[0].path.endswith("audio-000010.wav"))
    for path in ledger_files(root / "ledger"):
        kept = [ln.raw for ln in read_lines(path) if ln.record.seq < cut_from]
        if kept:
            path.write_bytes(b"".join(kept))
        else:
            path.unlink()
    for r in recs:
        if r.seq >= cut_from:
            for f in r.files:
                (root / f.path).unlink(missing_ok=True)
    spool_report = verify_path(root)
    assert spool_report.ok and "open_session" in {n.kind for n in spool_report.notes}
    session_report = verify_path(root / "sessions" / sid)
    assert {f.kind for f in session_report.findings} == {"session_not_closed"}
    witnessed = verify_path(root, checkpoints=[witness.witness()])
    assert "rollback" in {f.kind for f in witnessed.findings}
