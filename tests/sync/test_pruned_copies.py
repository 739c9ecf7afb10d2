"""Deletion can't hide behind "pruned" (issue 11, E). A pruned GAP names each file's cloud copy
(object, version, checksum); locally that is the unit's word, with the bucket it is checked."""
from __future__ import annotations

from firmware.evidence import records
from firmware.cli.main import main
from firmware.unit.sync.uploader import Uploader
from firmware.evidence.verify import verify_path


def _kinds(report) -> set[str]:
    return {f.kind for f in report.findings}


def _bucket_args(bucket):
    return ["--bucket", f"s3://{bucket.name}/branch-0042", "--endpoint", bucket.endpoint]


def test_real_pruning_verifies_with_the_bucket(spool, bucket, open_evidence, make_settings,
                                               clock, kit, capsys):
    witness = kit.witness(open_evidence, spool.root)
    with Uploader(spool.root, make_settings(keep_local_days=0), clock=clock,
                  evidence=witness) as up:
        assert up.run_once().pruned > 0
        assert up.run_once().complete
    local = verify_path(spool.root)
    assert local.ok and "not checked against the bucket" in local.levels["pruned"]
    assert main(["verify", str(spool.root), *_bucket_args(bucket)]) == 0
    out = capsys.readouterr().out
    assert f"pruned files checked against s3://{bucket.name}/branch-0042" in out


def test_an_insider_cannot_prune_away_media_that_never_reached_the_bucket(
        spool, bucket, open_evidence, clock, capsys):
    """The device key signs a pruned GAP with made-up object versions and deletes 30 s of
    media: locally it reads as pruned (and says it was not checked); the bucket refutes it."""
    sid = spool.sessions[0]
    victims = sorted(p for p in (spool.root / "sessions" / sid).iterdir()
                     if p.name.startswith(("video-", "audio-")))
    from firmware.evidence.spool import hash_file
    from firmware.protocol.bucket.layout import device_root
    root = device_root("branch-0042", open_evidence.device_id)
    items = []
    for p in victims:
        digest, size = hash_file(p)
        rel = p.relative_to(spool.root).as_posix()
        items.append({"path": rel, "sha256": digest, "size": size, "key": f"{root}/{rel}",
                      "version_id": "fabricated", "checksum": "bm90IHRoZXJl"})
    open_evidence.prune_files(items, {"reason": "cloud copy confirmed"})
    assert not any(p.exists() for p in victims)
    assert main(["verify", str(spool.root), *_bucket_args(bucket)]) == 1
    out = capsys.readouterr().out
    assert out.count("[pruned_copy_missing]") == len(victims), out


def test_a_pruned_gap_naming_only_paths_excuses_nothing(spool, open_evidence):
    gone = spool.files["video"]
    open_evidence.ledger.append(records.GAP, None, [], {
        "kind": "pruned", "start_ns": 0, "end_ns": 0, "files_pruned": [gone]})
    (spool.root / gone).unlink()
    report = verify_path(spool.root)
    assert {"bad_prune", "missing_file"} <= _kinds(report), report.to_text()


def test_files_of_an_open_session_cannot_be_pruned(spool, open_evidence):
    sid = open_evidence.start_session()
    rec = open_evidence.seal_bytes(sid, "audio-000001.wav", b"RIFF....", {"stream": "audio"})
    entry = rec.files[0]
    item = {"path": entry.path, "sha256": entry.sha256, "size": entry.size, "key": "k",
            "version_id": "v", "checksum": "c"}
    try:
        open_evidence.prune_files([item])
    except ValueError as exc:
        assert "still open" in str(exc)
    else:
        raise AssertionError("an open session's file was pruned")
    # an insider writing the GAP by hand: verify refuses the excuse
    open_evidence.ledger.append(records.GAP, None, [], {
        "kind": "pruned", "start_ns": 0, "end_ns": 0, "files_pruned": [item]})
    (spool.root / entry.path).unlink()
    open_evidence.end_session(sid)
    assert {"bad_prune", "missing_file"} <= _kinds(verify_path(spool.root))
