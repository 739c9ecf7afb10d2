"""Evidence benchmarks: verify throughput, seal cost per segment, recovery time."""
from __future__ import annotations

import os
import subprocess
import time


from drivers.clock import SystemClock
from firmware.evidence.store import Evidence
from firmware.evidence.keys import DeviceKey
from firmware.evidence.recovery import recover
from firmware.evidence.verify import verify_path

GB = 1 << 30


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_verify_throughput_against_sha256sum(tmp_path, record_result):
    """verify over a ≥1 GB spool vs sha256sum over the same files; target ratio ≥ 0.8."""
    key = DeviceKey.generate()
    block = os.urandom(16 << 20)
    with Evidence.open(tmp_path / "spool", key, SystemClock()) as ev:
        for s in range(4):
            sid = ev.start_session()
            for i in range(17):  # 4 x 17 x 16 MiB = 1.06 GiB
                ev.seal_bytes(sid, f"video-{i:06d}.h264", block[i:] + block[:i],
                              {"stream": "video"})
            ev.end_session(sid)
    files = sorted(str(p) for p in (tmp_path / "spool" / "sessions").rglob("*") if p.is_file())
    total = sum(os.path.getsize(f) for f in files)
    assert total >= GB
    sha = lambda: subprocess.run(["sha256sum", *files], check=True,  # noqa: E731
                                 stdout=subprocess.DEVNULL)
    sha()  # both read from a warm page cache
    t_sha = min(_timed(sha) for _ in range(2))
    t_verify = min(_timed(lambda: verify_path(tmp_path / "spool")) for _ in range(2))
    assert verify_path(tmp_path / "spool").ok
    record_result("verify_vs_sha256sum", bytes=total, sha256sum_s=round(t_sha, 3),
                  verify_s=round(t_verify, 3), ratio=round(t_sha / t_verify, 2), target=">= 0.8")


def test_seal_cost_per_segment(tmp_path, record_result):
    """Sealing a 1 s segment (hash + fsync + rename + sign + append + fsync) vs a plain
    write + fsync of the same bytes."""
    key = DeviceKey.generate()
    segment = os.urandom(600_000)  # ~1 s of 1080p30 H.264 at 5 Mbit/s
    n = 200
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()

    def plain():
        for i in range(n):
            with open(plain_dir / f"seg-{i}", "wb") as f:
                f.write(segment)
                f.flush()
                os.fsync(f.fileno())

    with Evidence.open(tmp_path / "spool", key, SystemClock()) as ev:
        sid = ev.start_session()

        def sealed():
            for i in range(n):
                ev.seal_bytes(sid, f"video-{i:06d}.h264", segment, {"stream": "video"})
        t_plain = _timed(plain)
        t_seal = _timed(sealed)
    record_result("seal_per_segment", segments=n, segment_bytes=len(segment),
                  plain_ms=round(t_plain / n * 1000, 2), seal_ms=round(t_seal / n * 1000, 2),
                  ratio=round(t_seal / t_plain, 2))


def test_recovery_time_for_10000_segments(tmp_path, record_result):
    """Recovery of a spool holding 10,000 sealed segments after a power cut; target ≤ 2 s."""
    key = DeviceKey.generate()
    clock = SystemClock()
    ev = Evidence.open(tmp_path / "spool", key, clock, checkpoint_every=1000)
    for s in range(4):
        sid = ev.start_session()
        for i in range(2500):
            ev.seal_bytes(sid, f"seg-{i:06d}.bin", b"x" * 256, {"stream": "video"})
        if s < 3:
            ev.end_session(sid)
    part = ev.new_file(sid, "seg-open.bin")  # the power cut: an open session, a .part
    part.write(b"y" * 1000)
    part.flush()
    ev.ledger.close()
    walk = _timed(lambda: sum(len(f) for _, _, f in os.walk(tmp_path / "spool")))
    t = _timed(lambda: recover(tmp_path / "spool", key, clock, device_id=ev.device_id))
    assert verify_path(tmp_path / "spool").ok
    record_result("recovery_10000_segments", recovery_s=round(t, 3), target_s=2.0,
                  ratio_to_target=round(t / 2.0, 2), walk_baseline_s=round(walk, 3))
