"""Sync throughput against a plain boto3 upload of the same files to the same S3 server.

The server is moto's S3 server over HTTP on loopback, in its own process (so the client side
does not share an interpreter lock with it). The files are three 60-second sessions of
1-second segments, as the recorder seals them (600 kB video, its .pts, 96 kB audio). The
baseline is ``boto3``'s ``upload_file`` for each file in turn; the uploader does more per
object (SHA-256 from the chain, If-None-Match, Object Lock, a HEAD to confirm, its state DB).
Target: ratio (baseline time / sync time) ≥ 0.9 with the default settings.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.clock import SystemClock
from firmware.evidence.store import Evidence
from firmware.evidence.keys import DeviceKey
from firmware.unit.sync.settings import SyncSettings
from firmware.unit.sync.uploader import Uploader

SERVER = ("import time; from moto.server import ThreadedMotoServer as S; "
          "S('127.0.0.1', {port}, verbose=False).start(); time.sleep(10**6)")


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "bench")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "bench")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(port=port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def _spool(root: Path, sessions: int = 3, seconds: int = 60) -> list[Path]:
    video, audio = os.urandom(600_000), os.urandom(96_044)
    pts = b"".join(b"%d 1 20000\n" % (10**9 + k * 33_333_333) for k in range(30))
    with Evidence.open(root, DeviceKey.generate(), SystemClock()) as ev:
        for _ in range(sessions):
            sid = ev.start_session()
            for i in range(seconds):
                v = ev.new_file(sid, f"video-{i:06d}.h264")
                v.write(video[i:] + video[:i])
                p = ev.new_file(sid, f"video-{i:06d}.pts")
                p.write(pts)
                ev.seal(sid, [v, p], {"stream": "video"})
                ev.seal_bytes(sid, f"audio-{i:06d}.wav", audio[i:] + audio[:i],
                              {"stream": "audio"})
            ev.end_session(sid)
    return sorted(p for p in root.rglob("*") if p.is_file() and "state" not in p.parts)


def test_sync_throughput_against_plain_boto3(tmp_path, endpoint, record_result):
    import boto3
    root = tmp_path / "spool"
    files = _spool(root)
    total = sum(f.stat().st_size for f in files)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="bench", ObjectLockEnabledForBucket=True)

    def plain(run: int) -> float:
        start = time.perf_counter()
        for f in files:
            client.upload_file(str(f), "bench", f"plain-{run}/{f.relative_to(root)}")
        return time.perf_counter() - start

    def synced(run: str, **changes) -> float:
        settings = SyncSettings(bucket="bench", endpoint=endpoint, prefix=f"sync-{run}",
                                **changes)
        with Uploader(root, settings) as up:
            start = time.perf_counter()
            result = up.run_once()
            elapsed = time.perf_counter() - start
        assert result.complete, result.summary()
        return elapsed

    runs = [(plain(n), synced(f"default-{n}")) for n in range(3)]  # alternated: same drift
    t_plain = min(r[0] for r in runs)
    t_sync = min(r[1] for r in runs)
    t_one = synced("one-worker", workers=1)
    record_result("sync_vs_boto3_upload_file", files=len(files), bytes=total,
                  boto3_s=round(t_plain, 3), sync_s=round(t_sync, 3),
                  ratio=round(t_plain / t_sync, 2), workers=SyncSettings(bucket="bench").workers,
                  ratio_one_worker=round(t_plain / t_one, 2), target=">= 0.9")
