"""A network cut for a simulated hour: the backlog grows while sessions are recorded, then
drains when the network is back; the multipart upload cut by it resumes across a restart."""
from __future__ import annotations

import time

from firmware.unit.sync.uploader import Uploader
from firmware.cli.sync import verify_s3

MiB = 1024 * 1024


def test_an_hour_offline_grows_the_backlog_which_then_drains(
        spool, bucket, proxy, open_evidence, make_settings, clock, kit, check_bucket):
    settings = make_settings(proxy.url, keep_local_days=30, interval_s=0.1,
                             max_backoff_s=0.3, max_attempts=1)
    results = []
    with Uploader(spool.root, settings, clock=clock, evidence=open_evidence,
                  on_result=results.append) as up:
        assert up.run_once().complete
        proxy.down()
        seen = []
        for _ in range(6):          # a session every ten minutes, for an hour
            kit.record_session(open_evidence)
            clock.advance(600)
            result = up.run_once()
            assert result.error is not None and result.uploaded == 0
            seen.append(result.backlog)
        assert all(b.items < a.items for b, a in zip(seen, seen[1:]))
        assert all(b.bytes < a.bytes for b, a in zip(seen, seen[1:]))
        assert seen[-1].oldest_age_s >= 3000
        assert up.backlog().items == seen[-1].items
        telemetry = up.backlog().as_dict()
        assert set(telemetry) == {"items", "bytes", "oldest_sealed_wall_ns", "oldest_age_s",
                                  "conflicts", "lost"}
        up.start()                  # the daemon's thread: failing runs back off
        deadline = time.monotonic() + 20
        while len(results) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(results) >= 2 and all(r.error is not None for r in results)
        proxy.up()
        up.wake()
        deadline = time.monotonic() + 30
        while up.backlog().items and time.monotonic() < deadline:
            time.sleep(0.1)
        up.stop()
        assert up.backlog().items == 0 and up.backlog().oldest_age_s is None
        assert up.failure is None
    check_bucket(spool.root)
    assert verify_s3(f"s3://{bucket.name}/branch-0042", bucket.endpoint) == 0


def test_multipart_resumes_from_the_last_good_part_after_a_restart(
        spool, bucket, proxy, open_evidence, make_settings, clock, kit, check_bucket):
    sid = kit.record_session(open_evidence, segments=1, big=16 * MiB)   # parts 5+5+5+1 MiB
    settings = make_settings(proxy.url, max_attempts=2)
    proxy.add("cut_request", method="PUT", pattern=r"partNumber=3(&|$)", times=2)
    with Uploader(spool.root, settings, clock=clock) as up:
        first = up.run_once()
        assert first.error is not None
        key = f"{kit.device_root(spool.root)}/sessions/{sid}/video-long.h264"
        assert sorted(up.state.parts(key)) == [1, 2]
    with Uploader(spool.root, settings, clock=clock) as up:   # the unit restarted
        assert up.run_once().complete
    parts = [r.target for r in proxy.requests("PUT", r"partNumber=")]
    sent = {n: sum(f"partNumber={n}" in t for t in parts) for n in range(1, 5)}
    # parts 1 and 2 were not sent again; part 3 was cut twice, then sent after the restart
    assert sent == {1: 1, 2: 1, 3: 3, 4: 1}
    assert len(proxy.requests("POST", r"\?uploads")) == 1
    check_bucket(spool.root)
    assert verify_s3(f"s3://{bucket.name}/branch-0042", bucket.endpoint) == 0
