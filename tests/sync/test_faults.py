"""Faults between the unit and the server: cuts mid-part, 500/503, slow answers, a restart.

Afterwards every object is in the bucket exactly once with the right checksum, nothing was
deleted locally before its cloud copy was confirmed, and the bucket verifies."""
from __future__ import annotations

import threading

from firmware.unit.sync.uploader import Uploader
from firmware.cli.sync import verify_s3
from firmware.evidence.verify import verify_path

MiB = 1024 * 1024


def _until_clean(up: Uploader, runs: int = 6):
    for _ in range(runs):
        result = up.run_once()
        if result.complete:
            return result
    raise AssertionError(f"not clean after {runs} runs: {result.summary()}")


def test_cuts_errors_and_slow_answers_end_with_each_object_once(
        spool, bucket, proxy, open_evidence, make_settings, clock, kit, check_bucket):
    sid = kit.record_session(open_evidence, big=11 * MiB)  # 3 parts of 5 MiB
    kit.record_session(open_evidence)
    proxy.add("status", method="PUT", pattern=r"/sessions/.*/video-000000\.h264$", status=503,
              times=2)
    proxy.add("status", method="HEAD", pattern=r"/audio-000001\.wav", status=500)
    proxy.add("cut_request", method="PUT", pattern=r"partNumber=2(&|$)")
    proxy.add("cut_request", method="PUT", pattern=r"/video-000001\.pts$")
    proxy.add("cut_response", method="PUT", pattern=r"/video-000002\.h264$", times=2)
    proxy.add("cut_response", method="PUT", pattern=r"partNumber=3(&|$)")
    proxy.add("cut_response", method="POST", pattern=r"uploadId=")  # CompleteMultipartUpload
    proxy.add("delay", method="PUT", pattern=r"/signature-01\.json$", delay=2.5)
    proxy.add("delay", method="HEAD", pattern=r"/photo-01\.jpg$", delay=0.5)  # slow, in time
    witness = kit.witness(open_evidence, spool.root)
    settings = make_settings(proxy.url, read_timeout_s=1.5, keep_local_days=0)
    with Uploader(spool.root, settings, clock=clock, evidence=witness) as up:
        _until_clean(up)
        open_evidence.close()   # SHUTDOWN: the last records (the prunes) go up as well
        _until_clean(up)
    used = [r for r in proxy.log if r.action != "forward"]
    assert {r.action for r in used} == {"status", "cut_request", "cut_response", "delay"}
    assert any(r.status == 412 for r in proxy.requests("PUT")), "no retry met If-None-Match"
    assert not proxy.requests("DELETE")     # the unit never deletes (nor aborts, here)
    check_bucket(spool.root)
    assert witness.pruned and all(p.startswith("sessions/") for p in witness.pruned)
    assert f"sessions/{sid}/video-long.h264" in witness.pruned
    assert verify_path(spool.root).ok
    assert verify_s3(f"s3://{bucket.name}/branch-0042", bucket.endpoint) == 0


def test_server_restart_mid_run(spool, bucket, open_evidence, make_settings, clock, kit,
                                check_bucket):
    kit.record_session(open_evidence, segments=6)
    server = kit.start_moto()
    proxy = kit.FaultProxy(server.get_host_and_port())
    stopped = threading.Event()

    def stop_server_at_tenth_put(line: str) -> None:
        if line.startswith("PUT") and len(proxy.requests("PUT")) >= 10 and not stopped.is_set():
            stopped.set()
            kit.stop_moto(server)

    proxy.on_request = stop_server_at_tenth_put
    try:
        settings = make_settings(proxy.url, keep_local_days=0)
        witness = kit.witness(open_evidence, spool.root)
        with Uploader(spool.root, settings, clock=clock, evidence=witness) as up:
            first = up.run_once()
            assert stopped.is_set() and first.error is not None
            assert first.backlog.items > 0
            restarted = kit.start_moto()   # same process: the bucket is still there
            proxy.set_upstream(restarted.get_host_and_port())
            try:
                _until_clean(up)
            finally:
                kit.stop_moto(restarted)
    finally:
        proxy.close()
    check_bucket(spool.root)
    assert witness.pruned
    assert verify_path(spool.root).ok
    assert verify_s3(f"s3://{bucket.name}/branch-0042", bucket.endpoint) == 0


def test_failure_in_the_worker_thread_reaches_the_owner(spool, make_settings, clock):
    """An unexpected error (a bug, not the network) ends the thread and is handed over."""
    failures: list[BaseException] = []
    done = threading.Event()
    up = Uploader(spool.root, make_settings(), clock=clock,
                  on_failure=lambda exc: (failures.append(exc), done.set()))

    def broken(**_kwargs):
        raise RuntimeError("bug in a hook")

    up.client.meta.events.register("before-send.s3.PutObject", broken)
    up.start()
    assert done.wait(20)
    assert isinstance(failures[0], RuntimeError) and up.failure is failures[0]
    assert not up.running
    up.close()
    up.close()  # safe twice
