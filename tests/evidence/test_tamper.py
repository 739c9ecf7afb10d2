"""Every kind of tampering is found: exit 1, and a finding naming the file and the record."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from firmware.evidence import records
from firmware.cli.main import main
from firmware.evidence.keys import DeviceKey
from firmware.evidence.ledger_files import ledger_files
from firmware.evidence.verify import verify_path


def kinds(report) -> set[str]:
    return {f.kind for f in report.findings}


def flip(path, offset: int = -10) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_untouched_spool_is_intact(spool, capsys):
    assert main(["verify", str(spool.root)]) == 0
    assert "verdict: INTACT" in capsys.readouterr().out
    for sid in spool.sessions:
        assert main(["verify", str(spool.root / "sessions" / sid)]) == 0


@pytest.mark.parametrize("kind", ["video", "pts", "audio", "signature", "photo"])
def test_one_byte_flipped_in_each_kind_of_media(spool, kind):
    flip(spool.root / spool.files[kind])
    report = verify_path(spool.root)
    assert [(f.kind, f.file) for f in report.findings] == [("changed_file", spool.files[kind])]
    assert report.findings[0].record is not None


def test_one_byte_flipped_in_the_ledger(spool):
    path = ledger_files(spool.root / "ledger")[1]
    flip(path, 200)  # inside a record's body
    report = verify_path(spool.root)
    assert kinds(report) & {"bad_signature", "malformed_record", "broken_link"}
    assert all(f.file == f"ledger/{path.name}" for f in report.findings if f.file)


def test_one_byte_flipped_in_a_signature(spool):
    path = ledger_files(spool.root / "ledger")[0]
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3][:-5] + (b"A" if lines[3][-5:-4] != b"A" else b"B") + lines[3][-4:]
    path.write_bytes(b"\n".join(lines))
    report = verify_path(spool.root)
    assert ("bad_signature", 4) in {(f.kind, f.record) for f in report.findings}


def test_device_identity_changed(spool):
    path = spool.root / "device" / "device.json"
    info = json.loads(path.read_text())
    info["public_key"] = DeviceKey.generate().public.b64
    path.write_text(json.dumps(info))
    report = verify_path(spool.root)
    assert "foreign_key" in kinds(report)


def test_device_identity_corrupted(spool):
    flip(spool.root / "device" / "device.json", 5)
    report = verify_path(spool.root)
    assert "device_info_mismatch" in kinds(report)


def test_file_deleted(spool):
    (spool.root / spool.files["audio"]).unlink()
    report = verify_path(spool.root)
    assert [(f.kind, f.file) for f in report.findings] == [("missing_file", spool.files["audio"])]


def test_file_added(spool):
    extra = spool.root / "sessions" / spool.sessions[0] / "video-000099.h264"
    extra.write_bytes(b"inserted")
    report = verify_path(spool.root)
    assert [(f.kind, f.file) for f in report.findings] == [
        ("extra_file", f"sessions/{spool.sessions[0]}/video-000099.h264")]


def test_file_truncated(spool):
    path = spool.root / spool.files["video"]
    path.write_bytes(path.read_bytes()[:100])
    report = verify_path(spool.root)
    assert [(f.kind, f.file) for f in report.findings] == [("truncated_file", spool.files["video"])]


def _ledger_lines(spool):
    return [(p, p.read_bytes().splitlines(keepends=True)) for p in ledger_files(spool.root / "ledger")]


def test_ledger_record_deleted(spool):
    path, lines = _ledger_lines(spool)[0]
    victim = records.parse_line(lines[5])
    del lines[5]
    path.write_bytes(b"".join(lines))
    report = verify_path(spool.root)
    assert ("sequence_gap", victim.seq + 1) in {(f.kind, f.record) for f in report.findings}
    # the files that record sealed are now covered by nothing
    assert {f.path for f in victim.files} <= {f.file for f in report.findings if f.kind == "extra_file"}


def test_two_records_swapped(spool):
    path, lines = _ledger_lines(spool)[0]
    lines[4], lines[5] = lines[5], lines[4]
    path.write_bytes(b"".join(lines))
    report = verify_path(spool.root)
    assert "reordered_record" in kinds(report)


def _resign(line: bytes, signer: DeviceKey, **changes) -> bytes:
    rec = records.parse_line(line)
    body = dict(rec.body, **changes)
    return records.sign_body(body, signer.sign).line()


def test_record_resigned_with_another_key(spool):
    other = DeviceKey.generate()
    path, lines = _ledger_lines(spool)[0]
    lines[6] = _resign(lines[6], other)                                  # key field kept
    lines[7] = _resign(lines[7], other, key=other.public.fingerprint)    # key field changed too
    path.write_bytes(b"".join(lines))
    found = {(f.kind, f.record) for f in verify_path(spool.root).findings}
    assert ("bad_signature", 7) in found
    assert ("foreign_key", 8) in found


def test_edited_record_resigned_by_another_key_breaks_the_chain(spool):
    other = DeviceKey.generate()
    path, lines = _ledger_lines(spool)[0]
    rec = records.parse_line(lines[6])
    lines[6] = _resign(lines[6], other, data=dict(rec.data, forged=True),
                       key=other.public.fingerprint)
    path.write_bytes(b"".join(lines))
    assert {"foreign_key", "broken_link"} <= kinds(verify_path(spool.root))


def test_session_copied_from_another_device(spool, tmp_path, clock, spool_factory):
    other = spool_factory(tmp_path / "other", DeviceKey.generate(), clock, sessions=1)
    shutil.copytree(other.root / "sessions" / other.sessions[0],
                    spool.root / "sessions" / other.sessions[0])
    report = verify_path(spool.root)
    assert "unknown_session" in kinds(report) and "extra_file" in kinds(report)
    assert main(["verify", str(spool.root / "sessions" / other.sessions[0])]) == 1


def test_segment_replaced_by_one_from_another_session(spool):
    a, b = spool.sessions
    shutil.copyfile(spool.root / "sessions" / b / "video-000001.h264",
                    spool.root / "sessions" / a / "video-000001.h264")
    report = verify_path(spool.root)
    assert [(f.kind, f.file) for f in report.findings] == [
        ("changed_file", f"sessions/{a}/video-000001.h264")]


def _witness(spool, seq: int, tmp_path):
    for path in ledger_files(spool.root / "ledger"):
        for line in path.read_bytes().splitlines():
            rec = records.parse_line(line)
            if rec.seq == seq:
                out = tmp_path / f"checkpoint-{seq}.json"
                out.write_text(json.dumps(rec.witness()))
                return out, rec
    raise AssertionError(seq)


def test_tail_dropped_after_a_checkpoint_was_published(spool, tmp_path, capsys):
    last = ledger_files(spool.root / "ledger")[-1]
    head = records.parse_line(last.read_bytes().splitlines()[-1])
    witness, _ = _witness(spool, head.seq, tmp_path)
    assert main(["verify", str(spool.root), "--checkpoint", str(witness)]) == 0
    # cut the chain back to before the witnessed record: every line that remains is intact
    keep = [l for l in last.read_bytes().splitlines(keepends=True)
            if records.parse_line(l).seq < head.seq - 3]
    last.write_bytes(b"".join(keep))
    capsys.readouterr()
    assert main(["verify", str(spool.root), "--checkpoint", str(witness), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert "rollback" in {f["kind"] for f in report["findings"]}


def test_history_rewritten_after_a_checkpoint_was_published(spool, tmp_path):
    witness, rec = _witness(spool, 10, tmp_path)
    path, lines = _ledger_lines(spool)[0]
    idx = next(i for i, l in enumerate(lines) if records.parse_line(l).seq == 10)
    lines[idx] = _resign(lines[idx], spool.key, data={"rewritten": True})
    path.write_bytes(b"".join(lines))
    from firmware.evidence.verify import load_checkpoint_file
    report = verify_path(spool.root, checkpoints=load_checkpoint_file(witness))
    assert "rewritten" in kinds(report)


def test_forged_checkpoint_is_a_finding(spool, tmp_path, capsys):
    """The chain can still be verified: a witness that is not the device's is a finding."""
    witness, rec = _witness(spool, 10, tmp_path)
    forged = records.sign_body(dict(rec.body), DeviceKey.generate().sign)
    witness.write_text(json.dumps(forged.witness()))
    assert main(["verify", str(spool.root), "--checkpoint", str(witness)]) == 1
    assert "[bad_witness] record 10: its signature is not the device's" in capsys.readouterr().out


def test_unusable_input_exits_2(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    assert main(["verify", str(tmp_path / "plain")]) == 2


def test_console_script_json_report(spool):
    flip(spool.root / spool.files["photo"])
    out = subprocess.run([sys.executable, "-m", "firmware.cli.main", "verify", "--json",
                          str(spool.root)], capture_output=True, text=True)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["verdict"] == "findings"
    assert report["findings"][0] == {"kind": "changed_file", "file": spool.files["photo"],
                                     "record": report["findings"][0]["record"],
                                     "line": None, "message": report["findings"][0]["message"]}
