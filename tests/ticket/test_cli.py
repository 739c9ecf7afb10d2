"""`dualrec-provision ticket keygen|issue` and `dualrec ticket check`, with their exit codes."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import stat
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from firmware.evidence.keys import DeviceKey
from firmware.ticket import UsedTickets, decode_ticket
from firmware.cli.ticket import add_ticket_parser
from provisioning.cli import main as provision

SAMPLE = Path(__file__).resolve().parents[2] / "firmware" / "samples" / "ticket-spec.json"


def dualrec(*argv: str) -> int:
    """``dualrec ARGV`` with the ticket commands (as firmware/cli.py will hook them in)."""
    parser = argparse.ArgumentParser(prog="dualrec")
    add_ticket_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A sales key made by `ticket keygen` and the sample ticket issued with it."""
    out = tmp_path_factory.mktemp("office")
    assert provision(["ticket", "keygen", "--out", str(out / "keys")]) == 0
    assert provision(["ticket", "issue", "--spec", str(SAMPLE), "--key",
                      str(out / "keys" / "sales.key"), "--qr", str(out / "ticket.png"),
                      "--out", str(out / "ticket.txt")]) == 0
    return {"dir": out, "pub": str(out / "keys" / "sales.pub"), "png": str(out / "ticket.png"),
            "txt": str(out / "ticket.txt")}


def test_keygen_writes_a_private_key_only_its_owner_reads(issued: dict[str, Any],
                                                          capsys: pytest.CaptureFixture) -> None:
    keys = issued["dir"] / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "sales.key").stat().st_mode) == 0o600
    key = DeviceKey.load(keys / "sales.key")
    assert (keys / "sales.pub").read_text().strip() == key.public.b64
    assert provision(["ticket", "keygen", "--out", str(keys)]) == 2  # never overwritten
    assert "never overwritten" in capsys.readouterr().err
    assert DeviceKey.load(keys / "sales.key").public == key.public


def test_keygen_refuses_an_open_directory_and_planted_links(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o755)
    os.chmod(open_dir, 0o755)
    assert provision(["ticket", "keygen", "--out", str(open_dir)]) == 2
    assert "chmod 700" in capsys.readouterr().err
    planted = tmp_path / "planted"
    planted.mkdir(mode=0o700)
    (planted / "sales.key").symlink_to(tmp_path / "stolen.key")
    assert provision(["ticket", "keygen", "--out", str(planted)]) == 2
    assert not (tmp_path / "stolen.key").exists()
    (tmp_path / "real").mkdir()
    (tmp_path / "linkdir").symlink_to(tmp_path / "real")
    assert provision(["ticket", "keygen", "--out", str(tmp_path / "linkdir")]) == 2
    assert list((tmp_path / "real").iterdir()) == []


def test_issue_writes_a_qr_and_the_text(issued: dict[str, Any]) -> None:
    text = Path(issued["txt"]).read_text(encoding="ascii")
    assert text.startswith("DRT1:") and text.endswith("\n") and text.count("\n") == 1
    key = DeviceKey.load(issued["dir"] / "keys" / "sales.key")
    ticket, _ = decode_ticket(text.strip("\n"), [key.public])
    assert ticket.product.name == "示例鑫禧增额终身寿险"
    assert Path(issued["png"]).read_bytes().startswith(b"\x89PNG")


def test_issue_names_every_problem_of_a_spec(issued: dict[str, Any], tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    spec = json.loads(SAMPLE.read_text(encoding="utf-8"))
    spec["mode"] = "video"
    spec["product"]["cooling_off_days"] = 90
    (tmp_path / "bad.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    assert provision(["ticket", "issue", "--spec", str(tmp_path / "bad.json"), "--key",
                      str(issued["dir"] / "keys" / "sales.key"), "--qr",
                      str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err
    assert "mode:" in err and "product.cooling_off_days:" in err
    assert not (tmp_path / "t.png").exists()
    (tmp_path / "notjson.json").write_text("{", encoding="utf-8")
    assert provision(["ticket", "issue", "--spec", str(tmp_path / "notjson.json"), "--key",
                      str(issued["dir"] / "keys" / "sales.key"), "--qr",
                      str(tmp_path / "t.png")]) == 2


def test_check_accepts_a_valid_ticket(issued: dict[str, Any],
                                      capsys: pytest.CaptureFixture) -> None:
    for source in (issued["png"], issued["txt"]):
        assert dualrec("ticket", "check", source, "--sales-key", issued["pub"],
                       "--org", "BANK3101", "--outlet", "SH0012") == 0
        out = capsys.readouterr().out
        assert out.startswith("ACCEPTED") and "王建国" not in out
    assert dualrec("ticket", "check", issued["txt"], "--sales-key", issued["pub"]) == 0
    assert "scope not checked" in capsys.readouterr().out


def test_check_refusals_exit_1(issued: dict[str, Any], tmp_path: Path,
                               capsys: pytest.CaptureFixture) -> None:
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=9)).isoformat()
    other = DeviceKey.generate().public.b64
    config = tmp_path / "unit.toml"
    config.write_text('[device]\nid = "dr-0001"\n[branch]\norg = "BANK9999"\n',
                      encoding="utf-8")
    used_dir = tmp_path / "used"
    cases = [(["--sales-key", other], "forged"),
             (["--sales-key", issued["pub"], "--at", later], "expired"),
             (["--sales-key", issued["pub"], "--org", "BANK3102"], "wrong_unit"),
             (["--sales-key", issued["pub"], "--config", str(config)], "wrong_unit")]
    for extra, status in cases:
        assert dualrec("ticket", "check", issued["png"], "--json", *extra) == 1
        assert json.loads(capsys.readouterr().out)["status"] == status
    key = DeviceKey.load(issued["dir"] / "keys" / "sales.key")
    ticket, _ = decode_ticket(Path(issued["txt"]).read_text().strip(), [key.public])
    UsedTickets(used_dir).claim(ticket, dt.datetime.now(dt.timezone.utc))
    assert dualrec("ticket", "check", issued["txt"], "--sales-key", issued["pub"],
                   "--used-dir", str(used_dir)) == 1
    assert "REFUSED (reused)" in capsys.readouterr().out
    blank = tmp_path / "blank.png"
    blank.write_bytes(Path(issued["png"]).read_bytes()[:8] + b"\0" * 100)  # a broken PNG
    assert dualrec("ticket", "check", str(blank), "--sales-key", issued["pub"]) == 2
    white = tmp_path / "white.png"
    cv2.imwrite(str(white), np.full((300, 300, 3), 255, np.uint8))
    assert dualrec("ticket", "check", str(white), "--sales-key", issued["pub"]) == 1
    assert "REFUSED (no_code)" in capsys.readouterr().out
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("hello\n", encoding="ascii")
    assert dualrec("ticket", "check", str(garbage), "--sales-key", issued["pub"]) == 1
    assert "REFUSED (malformed)" in capsys.readouterr().out


def test_check_unusable_input_exits_2(issued: dict[str, Any], tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    assert dualrec("ticket", "check", str(tmp_path / "missing.png"), "--sales-key",
                   issued["pub"]) == 2
    assert dualrec("ticket", "check", issued["png"], "--sales-key", "not a key") == 2
    assert dualrec("ticket", "check", issued["png"], "--sales-key", issued["pub"],
                   "--used-dir", str(tmp_path / "nowhere")) == 2
    assert "dualrec ticket check:" in capsys.readouterr().err
