"""Normal sync against a real S3 server over HTTP: what goes up, in which order, locked how."""
from __future__ import annotations

import datetime as dt
import io
import json

from firmware.protocol.bucket.layout import parse_tail_rel
from firmware.unit.sync.retention import add_years
from firmware.unit.sync.uploader import Uploader
from firmware.cli.sync import TerminalProgress, main, verify_s3
from firmware.evidence.verify import verify_path


def test_every_sealed_file_goes_up_once_locked_and_verifies(spool, bucket, make_settings,
                                                            clock, check_bucket, kit, capsys):
    (spool.root / "sessions" / spool.sessions[0] / "video-000009.h264.part").write_bytes(b"x")
    with Uploader(spool.root, make_settings(), clock=clock) as up:
        result = up.run_once()
    assert result.complete, result.summary()
    assert result.uploaded == len(kit.sealed_files(spool.root)) + 4  # + device, 2 ledgers, tail
    objects = check_bucket(spool.root)
    root = kit.device_root(spool.root)
    rels = {k[len(root) + 1:] for k in objects}
    assert {"device/device.json", "ledger/000000000001.ledger"} <= rels
    assert not any(r.endswith(".part") for r in rels)
    ten_years = add_years(dt.datetime.now(dt.timezone.utc), 10)
    for info in objects.values():
        assert info["lock_mode"] == "COMPLIANCE"
        assert abs((info["retain_until"] - ten_years).total_seconds()) < 86_400
    assert verify_s3(f"s3://{bucket.name}/branch-0042", bucket.endpoint) == 0
    assert "bucket verdict: INTACT" in capsys.readouterr().out


def test_ledger_first_then_media_oldest_first(spool, proxy, make_settings, clock, kit):
    with Uploader(spool.root, make_settings(proxy.url, workers=1), clock=clock) as up:
        assert up.run_once().complete
    puts = [r.target.split("/", 4)[4].split("?")[0] for r in proxy.requests("PUT")]
    assert puts[0] == "device/device.json"
    assert puts[1:3] == ["ledger/000000000001.ledger", "ledger/000000000016.ledger"]
    assert parse_tail_rel(puts[3]) is not None
    media = puts[4:]
    sealed = list(kit.sealed_files(spool.root))  # in sealing order
    assert media == sealed


def test_open_ledger_goes_up_in_tail_ranges_then_whole(spool, bucket, open_evidence,
                                                       make_settings, clock, kit,
                                                       check_bucket, capsys):
    url = f"s3://{bucket.name}/branch-0042"
    with Uploader(spool.root, make_settings(), clock=clock) as up:
        sid = open_evidence.start_session({"template": "test"})
        open_evidence.seal_bytes(sid, "audio-000000.wav", b"RIFF" + bytes(5000),
                                 {"stream": "audio"})
        assert up.run_once().complete  # mid-session: the tail so far, and its media
        assert verify_s3(url, bucket.endpoint) == 0
        assert "still open on the unit" in capsys.readouterr().out
        open_evidence.seal_bytes(sid, "audio-000001.wav", b"RIFF" + bytes(6000),
                                 {"stream": "audio"})
        open_evidence.end_session(sid)
        kit.record_session(open_evidence)  # the ledger rolls: the earlier file is closed now
        assert up.run_once().complete
    objects = check_bucket(spool.root)
    root = kit.device_root(spool.root)
    tails = sorted(parse_tail_rel(k[len(root) + 1:]) for k in objects
                   if parse_tail_rel(k[len(root) + 1:]))
    assert len(tails) >= 2
    by_file: dict[str, list] = {}
    for name, start, end in tails:
        by_file.setdefault(name, []).append((start, end))
    for ranges in by_file.values():  # consecutive, from byte 0
        assert ranges[0][0] == 0
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert verify_s3(url, bucket.endpoint) == 0


def test_lost_state_costs_only_rechecks(spool, bucket, proxy, make_settings, clock):
    settings = make_settings(proxy.url)
    with Uploader(spool.root, settings, clock=clock) as up:
        first = up.run_once()
        db = up.state.path
    for extra in db.parent.glob(db.name + "*"):
        extra.unlink()
    proxy.log.clear()
    with Uploader(spool.root, settings, clock=clock) as up:
        again = up.run_once()
    assert again.complete and again.uploaded == 0
    assert again.already == first.uploaded - 1  # the tail range is found by listing instead
    assert all(r.status in (200, 412) for r in proxy.requests("PUT"))
    assert all(info["versions"] == 1 for info in bucket.objects().values())


def test_dualrec_sync_cli(spool, bucket, proxy, capsys, tmp_path):
    args = ["sync", str(spool.root), "--endpoint", proxy.url, "--bucket", bucket.name,
            "--prefix", "branch-0042"]
    proxy.down()
    assert main(args) == 1
    assert "INCOMPLETE" in capsys.readouterr().out
    proxy.up()
    assert main(args + ["--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["complete"] and summary["backlog"]["items"] == 0
    assert main(["sync", str(tmp_path / "nowhere"), "--bucket", bucket.name]) == 2
    assert main(["sync", str(spool.root), "--bucket", "Not_A_Bucket"]) == 2
    assert verify_s3(f"s3://{bucket.name}/branch-0042", proxy.url, json=True) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "intact"


def test_progress_shows_files_bytes_and_rate_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    from firmware.unit.sync.report import Progress
    shown, hidden = Tty(), io.StringIO()
    for stream in (shown, hidden):
        line = TerminalProgress(stream, every_s=0)
        line(Progress(files_total=4, bytes_total=4 << 20, files_done=2, bytes_done=2 << 20))
        line.done()
    assert "2/4 files, 2.0/4.0 MiB" in shown.getvalue() and "MiB/s" in shown.getvalue()
    assert hidden.getvalue() == ""


def test_local_spool_still_verifies_after_sync(spool, make_settings, clock):
    with Uploader(spool.root, make_settings(), clock=clock) as up:
        up.run_once()
    assert verify_path(spool.root).ok  # state/ is not evidence
