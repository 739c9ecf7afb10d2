"""``verify s3://…``: an overwritten object, a new version, an extra object or a foreign
object at a key make it fail; a 412 with a different object there is reported, never
overwritten, and the local file is kept."""
from __future__ import annotations

import json

from firmware.protocol.bucket.errors import ObjectConflictError
from firmware.unit.sync.uploader import Uploader
from firmware.cli.sync import main, verify_s3


def _synced(spool, make_settings, clock, **changes) -> None:
    with Uploader(spool.root, make_settings(**changes), clock=clock) as up:
        assert up.run_once().complete


def _kinds(capsys) -> tuple[set[str], set[str]]:
    report = json.loads(capsys.readouterr().out)
    return ({f["kind"] for f in report["s3"]["findings"]},
            {f["kind"] for f in report["findings"]})


def test_an_overwritten_object_fails(spool, bucket, make_settings, clock, kit, capsys):
    _synced(spool, make_settings, clock)
    key = f"{kit.device_root(spool.root)}/{spool.files['video']}"
    bucket.client.put_object(Bucket=bucket.name, Key=key, Body=b"\x00\x00\x00\x01edited")
    url = f"s3://{bucket.name}/branch-0042"
    assert verify_s3(url, bucket.endpoint, json=True) == 1
    s3_kinds, spool_kinds = _kinds(capsys)
    assert "object_versions" in s3_kinds and "object_checksum" in s3_kinds
    assert "size_mismatch" in spool_kinds or "changed_file" in spool_kinds or \
        "truncated_file" in spool_kinds


def test_a_new_version_with_the_same_bytes_still_fails(spool, bucket, make_settings, clock,
                                                       kit, capsys):
    _synced(spool, make_settings, clock)
    key = f"{kit.device_root(spool.root)}/{spool.files['photo']}"
    body = (spool.root / spool.files["photo"]).read_bytes()
    bucket.client.put_object(Bucket=bucket.name, Key=key, Body=body,
                             ChecksumAlgorithm="SHA256")
    assert verify_s3(f"s3://{bucket.name}/branch-0042", bucket.endpoint, json=True) == 1
    s3_kinds, spool_kinds = _kinds(capsys)
    assert s3_kinds == {"object_versions"} and not spool_kinds


def test_objects_no_record_covers_fail(spool, bucket, make_settings, clock, kit, capsys):
    _synced(spool, make_settings, clock)
    root = kit.device_root(spool.root)
    for rel in (f"sessions/{spool.sessions[0]}/extra.bin", "state/notes.txt",
                "device/other.json"):
        bucket.client.put_object(Bucket=bucket.name, Key=f"{root}/{rel}", Body=b"x",
                                 ChecksumAlgorithm="SHA256")
    assert verify_s3(f"s3://{bucket.name}/branch-0042", bucket.endpoint, json=True) == 1
    report = json.loads(capsys.readouterr().out)
    uncovered = {f["key"] for f in report["s3"]["findings"] if f["kind"] == "uncovered_object"}
    assert uncovered == {f"sessions/{spool.sessions[0]}/extra.bin", "state/notes.txt",
                         "device/other.json"}
    assert "extra_file" in {f["kind"] for f in report["findings"]}


def test_a_different_object_at_the_key_is_reported_not_overwritten(
        spool, bucket, open_evidence, make_settings, clock, kit, capsys):
    root = kit.device_root(spool.root)
    key = f"{root}/{spool.files['audio']}"
    first = bucket.client.put_object(Bucket=bucket.name, Key=key, Body=b"not the recording",
                                     ChecksumAlgorithm="SHA256")
    settings = make_settings(keep_local_days=0)
    with Uploader(spool.root, settings, clock=clock, evidence=open_evidence) as up:
        result = up.run_once()
        assert not result.complete
        assert [c.key for c in result.conflicts] == [key]
        assert isinstance(result.conflicts[0], ObjectConflictError)
        assert isinstance(result.conflicts[0], FileExistsError)
        assert up.backlog().conflicts == 1 and up.backlog().items >= 1
        assert [c.key for c in up.conflicts()] == [key]
    head = bucket.client.head_object(Bucket=bucket.name, Key=key)
    assert head["VersionId"] == first["VersionId"]          # not overwritten
    assert (spool.root / spool.files["audio"]).exists()     # not pruned locally
    assert not (spool.root / spool.files["video"]).exists()  # the others were
    args = ["sync", str(spool.root), "--endpoint", bucket.endpoint, "--bucket", bucket.name,
            "--prefix", "branch-0042"]
    assert main(args) == 1
    assert "exists with different content" in capsys.readouterr().out
    assert verify_s3(f"s3://{bucket.name}/branch-0042", bucket.endpoint, json=True) == 1
    s3_kinds, spool_kinds = _kinds(capsys)
    assert "changed_file" in spool_kinds or "size_mismatch" in spool_kinds \
        or "truncated_file" in spool_kinds


def test_one_session_verifies_from_the_bucket(spool, bucket, make_settings, clock, kit,
                                              capsys):
    _synced(spool, make_settings, clock)
    url = f"s3://{bucket.name}/{kit.device_root(spool.root)}/sessions/{spool.sessions[1]}"
    assert verify_s3(url, bucket.endpoint) == 0
    out = capsys.readouterr().out
    assert "session of device" in out and "bucket verdict: INTACT" in out


def test_prefix_holding_several_units(spool, spool_factory, tmp_path, device_key, bucket,
                                      make_settings, clock, capsys):
    from firmware.evidence.keys import DeviceKey
    other = spool_factory(tmp_path / "other", DeviceKey.generate(), clock, sessions=1)
    _synced(spool, make_settings, clock)
    _synced(other, make_settings, clock)
    assert verify_s3(f"s3://{bucket.name}/branch-0042", bucket.endpoint, json=True) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_unusable_input_is_exit_2(bucket, proxy, capsys):
    assert verify_s3(f"s3://{bucket.name}/nothing-here", bucket.endpoint) == 2
    assert verify_s3("https://example.com/x", bucket.endpoint) == 2
    assert verify_s3("s3://no-such-bucket-anywhere/x", bucket.endpoint) == 2
    proxy.down()
    assert verify_s3(f"s3://{bucket.name}/x", proxy.url) == 2
    assert capsys.readouterr().err.count("unusable input") == 4
