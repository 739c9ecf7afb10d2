"""Fixtures for sync tests: a real S3 server over HTTP (moto) on loopback, a bucket with
Object Lock per test, a fault-injecting proxy in front of it, and settings for the uploader."""
from __future__ import annotations

import importlib.util
import logging
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from firmware.unit.sync.settings import SyncSettings

def _load(name: str):
    """A helper module next to this file (tests are imported by path, not as a package)."""
    spec = importlib.util.spec_from_file_location(f"_sync_{name}",
                                                  Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


faultproxy = _load("faultproxy")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path) -> None:
    """Test credentials through the standard AWS_* variables; no real AWS config is read."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-unit")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def start_moto() -> Any:
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return server


def stop_moto(server: Any) -> None:
    server.stop()
    server._server.server_close()  # stop() leaves the listening socket open


@pytest.fixture(scope="session")
def moto_server() -> Iterator[tuple[str, int]]:
    """One moto S3 server for the session (its state is process-wide; buckets are per test)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = start_moto()
    yield server.get_host_and_port()
    stop_moto(server)


def direct_client(endpoint: str):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing-admin", aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 1}))


@dataclass
class Bucket:
    name: str
    endpoint: str           # the S3 server itself
    client: Any             # a client straight to the server (the insurer's view)

    def objects(self, prefix: str = "") -> dict[str, dict]:
        """key -> {"versions": n, "size":, "checksum":, "lock_mode":, "retain_until":}."""
        out: dict[str, dict] = {}
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.name, Prefix=prefix)
        for page in pages:
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                out.setdefault(v["Key"], {"versions": 0})["versions"] += 1
        for key, info in out.items():
            head = self.client.head_object(Bucket=self.name, Key=key, ChecksumMode="ENABLED")
            info.update(size=head["ContentLength"], checksum=head.get("ChecksumSHA256"),
                        lock_mode=head.get("ObjectLockMode"),
                        retain_until=head.get("ObjectLockRetainUntilDate"),
                        metadata=head.get("Metadata", {}))
        return out


@pytest.fixture
def bucket(moto_server) -> Bucket:
    endpoint = "http://%s:%d" % moto_server
    client = direct_client(endpoint)
    name = f"evidence-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return Bucket(name, endpoint, client)


@pytest.fixture
def proxy(moto_server) -> Iterator[Any]:
    """The fault-injecting proxy in front of the moto server."""
    p = faultproxy.FaultProxy(moto_server)
    yield p
    p.close()


@pytest.fixture
def make_settings(bucket):
    """SyncSettings for the test bucket: quick timeouts and retries, small parts."""
    def make(endpoint: str | None = None, **changes: Any) -> SyncSettings:
        base = dict(bucket=bucket.name, endpoint=endpoint or bucket.endpoint,
                    prefix="branch-0042", connect_timeout_s=2.0, read_timeout_s=5.0,
                    max_attempts=3, part_size_mb=5, multipart_threshold_mb=5, workers=3,
                    interval_s=0.2, max_backoff_s=0.5, keep_local_days=0)
        base.update(changes)
        return SyncSettings(**base)
    return make


def record_session(ev, *, segments: int = 3, big: int = 0) -> str:
    """One session recorded through the real seal path of an open Evidence (video, pts and
    audio per segment, a signature); ``big``: bytes of one extra video file (multipart)."""
    sid = ev.start_session({"template": "test"})
    for i in range(segments):
        video = ev.new_file(sid, f"video-{i:06d}.h264")
        video.write(b"\x00\x00\x00\x01\x67" + os.urandom(4000))
        pts = ev.new_file(sid, f"video-{i:06d}.pts")
        pts.write(b"".join(b"%d 1\n" % (10**9 + k * 33_333_333) for k in range(30)))
        ev.seal(sid, [video, pts], {"stream": "video", "index": i})
        ev.seal_bytes(sid, f"audio-{i:06d}.wav", os.urandom(9600), {"stream": "audio"})
    if big:
        ev.seal_bytes(sid, "video-long.h264", os.urandom(big), {"stream": "video"})
    ev.seal_bytes(sid, "signature-01.json", b'{"strokes":[[1,2,3,4]]}', {"stream": "signature"})
    ev.end_session(sid)
    return sid


@pytest.fixture
def open_evidence(spool, device_key, clock):
    """The daemon's Evidence on the test spool (recovery, BOOT), closed after the test."""
    from firmware.evidence.store import Evidence
    ev = Evidence.open(spool.root, device_key, clock, checkpoint_every=10)
    yield ev
    ev.close()


def sealed_files(spool_root: Path) -> dict[str, str]:
    """Every file a record of the spool's chain seals: path -> hex SHA-256."""
    from firmware.evidence.ledger_files import ledger_files, read_lines
    out = {}
    for path in ledger_files(Path(spool_root) / "ledger"):
        for ln in read_lines(path):
            if ln.record is not None:
                out.update({f.path: f.sha256 for f in ln.record.files})
    return out


def device_root(spool_root: Path, prefix: str = "branch-0042") -> str:
    import json
    device = json.loads((Path(spool_root) / "device" / "device.json").read_text())["device_id"]
    return f"{prefix}/{device}"


@pytest.fixture
def check_bucket(bucket):
    """Assert every sealed file of a spool is in the bucket exactly once, with its SHA-256
    (bytes and stored checksum), under Object Lock; returns the bucket's object map."""
    import base64
    import hashlib

    def check(spool_root: Path, prefix: str = "branch-0042", locked: bool = True) -> dict:
        root = device_root(spool_root, prefix)
        objects = bucket.objects(root + "/")
        for key, info in objects.items():
            assert info["versions"] == 1, f"{key}: {info['versions']} versions"
        for rel, sha in sealed_files(spool_root).items():
            key = f"{root}/{rel}"
            assert key in objects, f"{rel} is not in the bucket"
            body = bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read()
            assert hashlib.sha256(body).hexdigest() == sha, f"{key}: wrong bytes"
            info = objects[key]
            part = int(info["metadata"].get("part-size", 0))
            if part:  # multipart: the composite of the parts' SHA-256
                digests = b"".join(hashlib.sha256(body[i:i + part]).digest()
                                   for i in range(0, len(body), part))
                want = base64.b64encode(hashlib.sha256(digests).digest()).decode()
            else:
                want = base64.b64encode(bytes.fromhex(sha)).decode()
                if locked:  # (moto ignores lock headers on multipart uploads)
                    assert info["lock_mode"] == "COMPLIANCE", key
            assert info["checksum"].split("-")[0] == want, f"{key}: stored checksum"
        assert not any(".part" in k for k in objects)
        return objects
    return check


class PruneWitness:
    """Stands between the uploader and Evidence.prune_files: before any file is deleted, its
    object must be in the bucket with the file's exact SHA-256 (read now, from the file)."""

    def __init__(self, evidence, bucket: Bucket, spool_root: Path,
                 prefix: str = "branch-0042") -> None:
        self.evidence = evidence
        self.bucket = bucket
        self.spool_root = Path(spool_root)
        self.root = device_root(spool_root, prefix)
        self.pruned: list[str] = []

    def prune_files(self, files: list[dict], data: dict | None = None):
        import base64
        import hashlib
        paths = [f["path"] for f in files]
        for item in files:
            rel = item["path"]
            assert item["key"] == f"{self.root}/{rel}" and item["version_id"], item
            local = (self.spool_root / rel).read_bytes()
            head = self.bucket.client.head_object(Bucket=self.bucket.name,
                                                  Key=f"{self.root}/{rel}",
                                                  ChecksumMode="ENABLED")
            assert head["ContentLength"] == len(local), rel
            digest = hashlib.sha256(local).digest()
            if not head.get("Metadata", {}).get("part-size"):
                assert head["ChecksumSHA256"] == base64.b64encode(digest).decode(), rel
            body = self.bucket.client.get_object(Bucket=self.bucket.name,
                                                 Key=f"{self.root}/{rel}")["Body"].read()
            assert body == local, rel
        self.pruned += paths
        return self.evidence.prune_files(files, data)


@pytest.fixture
def kit(bucket):
    """Helpers for the sync tests (they cannot import this conftest by name)."""
    from types import SimpleNamespace
    return SimpleNamespace(
        record_session=record_session, sealed_files=sealed_files, device_root=device_root,
        start_moto=start_moto, stop_moto=stop_moto, FaultProxy=faultproxy.FaultProxy,
        witness=lambda evidence, spool_root: PruneWitness(evidence, bucket, spool_root),
        direct_client=direct_client)
