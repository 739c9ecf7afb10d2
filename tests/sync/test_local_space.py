"""Local space: files leave the unit only when confirmed in the bucket and the local policy
allows; a low disk refuses recordings and never touches unsynced evidence; legal hold."""
from __future__ import annotations

from firmware.office.bucket.legal_hold import set_session_hold
from firmware.unit.sync.uploader import Uploader
from firmware.cli.sync import main, verify_s3
from firmware.evidence.verify import verify_path

HUGE_MB = 10**7   # more free space than any test machine has: the disk counts as low


def _session_files(spool_root, sid):
    return sorted(p.name for p in (spool_root / "sessions" / sid).iterdir())


def _hold(bucket, key: str) -> str:
    answer = bucket.client.get_object_legal_hold(Bucket=bucket.name, Key=key)
    return answer.get("LegalHold", {}).get("Status", "OFF")


def test_kept_locally_for_the_policy_period_then_pruned(
        spool, bucket, open_evidence, make_settings, clock, kit):
    settings = make_settings(keep_local_days=2)
    witness = kit.witness(open_evidence, spool.root)
    with Uploader(spool.root, settings, clock=clock, evidence=witness) as up:
        assert up.run_once().pruned == 0
        clock.advance(86_400)
        assert up.run_once().pruned == 0
        assert _session_files(spool.root, spool.sessions[0])
        clock.advance(86_400 + 60)
        assert up.run_once().pruned == len(witness.pruned) > 0
        assert _session_files(spool.root, spool.sessions[0]) == []
        assert up.run_once().complete   # the GAP records of the pruning go up too
    assert verify_path(spool.root).ok   # the pruned files are explained by signed GAPs
    assert verify_s3(f"s3://{bucket.name}/branch-0042", bucket.endpoint) == 0


def test_low_disk_refuses_recording_and_only_confirmed_files_go(
        spool, proxy, open_evidence, make_settings, clock, kit):
    settings = make_settings(proxy.url, keep_local_days=30, min_free_mb=HUGE_MB,
                             max_attempts=1)
    before = {sid: _session_files(spool.root, sid) for sid in spool.sessions}
    with Uploader(spool.root, settings, clock=clock, evidence=open_evidence) as up:
        status = up.disk_status()
        assert status.low and not up.recording_allowed()
        assert status.as_dict()["low"] is True
        proxy.down()                 # nothing can be confirmed
        result = up.run_once()
        assert result.error is not None and result.pruned == 0
        assert {sid: _session_files(spool.root, sid) for sid in spool.sessions} == before
        proxy.up()                   # confirmed now: they may go early, the disk being low
        result = up.run_once()
        assert result.pruned == sum(len(f) for f in before.values())
    assert verify_path(spool.root).ok


def test_low_disk_without_early_pruning_keeps_everything(spool, open_evidence, make_settings,
                                                         clock):
    settings = make_settings(keep_local_days=30, min_free_mb=HUGE_MB,
                             prune_early_when_low_disk=False)
    with Uploader(spool.root, settings, clock=clock, evidence=open_evidence) as up:
        assert not up.recording_allowed()
        assert up.run_once().pruned == 0
    assert all(_session_files(spool.root, sid) for sid in spool.sessions)


def test_once_off_sync_never_deletes(spool, make_settings, clock):
    with Uploader(spool.root, make_settings(keep_local_days=0), clock=clock) as up:
        assert up.run_once().complete
    assert all(_session_files(spool.root, sid) for sid in spool.sessions)


def test_legal_hold_on_a_session(spool, bucket, make_settings, clock, kit):
    sid = spool.sessions[0]
    root = kit.device_root(spool.root)
    with Uploader(spool.root, make_settings(), clock=clock) as up:
        up.run_once()
        count = set_session_hold(up.client, up.settings.bucket, up.root, up.spool.root, sid)
    held = [k for k in bucket.objects(root + "/") if _hold(bucket, k) == "ON"]
    assert len(held) == count
    assert {k for k in held if "/sessions/" in k} == {
        f"{root}/sessions/{sid}/{name}" for name in _session_files(spool.root, sid)}
    assert any("/ledger/" in k for k in held)      # the records proving them are held too
    assert not any(f"/sessions/{spool.sessions[1]}/" in k for k in held)
    args = ["sync", str(spool.root), "--endpoint", bucket.endpoint, "--bucket", bucket.name,
            "--prefix", "branch-0042"]
    assert main(args + ["--release-hold", sid]) == 0
    assert all(_hold(bucket, k) == "OFF" for k in held)
    assert main(args + ["--legal-hold", "20000101T000000Z-000000"]) == 1
