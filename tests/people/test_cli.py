"""The CLI hooks: ``dualrec-provision roster ...`` and ``dualrec staff|people check``."""
from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path
from typing import Any, Callable

import pytest

from firmware.cli.people import add_people_parsers
from provisioning.roster import add_roster_parser


def runner(add: Callable[[Any], Any], prog: str) -> Callable[..., int]:
    def run(*argv: str) -> int:
        parser = argparse.ArgumentParser(prog=prog)
        add(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args([str(a) for a in argv])
        return args.func(args)
    return run


provision = runner(add_roster_parser, "dualrec-provision")
dualrec = runner(add_people_parsers, "dualrec")


@pytest.fixture
def back_office(tmp_path: Path, samples: Any) -> dict[str, Path]:
    """keygen, then sign: the back office's files."""
    key, pub = tmp_path / "bo" / "roster.key", tmp_path / "bo" / "roster.key.pub"
    assert provision("roster", "keygen", "--out", key) == 0
    unsigned = tmp_path / "roster-unsigned.json"
    unsigned.write_text(json.dumps(samples.roster_body(), ensure_ascii=False), "utf-8")
    signed = tmp_path / "roster.json"
    assert provision("roster", "sign", unsigned, "--key", key, "--out", signed) == 0
    return {"key": key, "pub": pub, "unsigned": unsigned, "signed": signed}


def test_keygen_sign_verify(back_office: dict[str, Path], capsys: Any, tmp_path: Path) -> None:
    assert stat.S_IMODE(back_office["key"].stat().st_mode) == 0o600
    public = back_office["pub"].read_text().strip()
    assert provision("roster", "keygen", "--out", tmp_path / "k2", "--public-out",
                     tmp_path / "k2.b64") == 0
    out = capsys.readouterr().out
    assert (tmp_path / "k2.b64").read_text().strip() in out
    assert provision("roster", "sign", back_office["unsigned"], "--key", back_office["key"],
                     "--out", tmp_path / "again.json") == 0
    assert "3 staff, serial 7" in capsys.readouterr().out
    assert provision("roster", "verify", back_office["signed"], "--public-key",
                     back_office["pub"], "--on", "2025-06-15") == 0
    assert "OK" in capsys.readouterr().out
    # the base64 text works as well as the file
    assert provision("roster", "verify", back_office["signed"], "--public-key", public,
                     "--on", "2025-06-15") == 0
    # keygen never overwrites
    assert provision("roster", "keygen", "--out", back_office["key"]) == 2
    assert "not overwritten" in capsys.readouterr().err


def test_verify_refuses_edited_expired_and_foreign(back_office: dict[str, Path], capsys: Any,
                                                   tmp_path: Path) -> None:
    signed = back_office["signed"]
    assert provision("roster", "verify", signed, "--public-key", back_office["pub"],
                     "--on", "2026-01-01") == 1
    assert "REFUSED" in capsys.readouterr().out
    edited = tmp_path / "edited.json"
    edited.write_text(signed.read_text("utf-8").replace("13812345678", "13800000000"), "utf-8")
    assert provision("roster", "verify", edited, "--public-key", back_office["pub"],
                     "--on", "2025-06-15") == 1
    assert "changed after the back office signed it" in capsys.readouterr().out
    other = tmp_path / "other.key"
    assert provision("roster", "keygen", "--out", other) == 0
    assert provision("roster", "verify", signed, "--public-key", f"{other}.pub",
                     "--on", "2025-06-15") == 1
    assert "signed by another key" in capsys.readouterr().out
    assert provision("roster", "verify", back_office["unsigned"], "--public-key",
                     back_office["pub"]) == 2
    assert provision("roster", "verify", tmp_path / "missing", "--public-key",
                     back_office["pub"]) == 2


def test_sign_refuses_a_bad_roster_and_a_readable_key(back_office: dict[str, Path],
                                                      samples: Any, tmp_path: Path,
                                                      capsys: Any) -> None:
    bad = tmp_path / "bad.json"
    body = samples.roster_body()
    body["staff"][0]["identity"]["gender"] = "X"
    bad.write_text(json.dumps(body), "utf-8")
    assert provision("roster", "sign", bad, "--key", back_office["key"], "--out",
                     tmp_path / "out.json") == 2
    assert 'roster.staff[0].identity.gender: must be "M" or "F"' in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()
    back_office["key"].chmod(0o644)
    assert provision("roster", "sign", back_office["unsigned"], "--key", back_office["key"],
                     "--out", tmp_path / "out.json") == 2
    assert "readable by others" in capsys.readouterr().err


def test_badges_and_staff_check(back_office: dict[str, Path], tmp_path: Path,
                                capsys: Any) -> None:
    badges = tmp_path / "badges"
    assert provision("roster", "badge", back_office["signed"], "--key", back_office["key"],
                     "--out-dir", badges) == 0
    assert sorted(p.name for p in badges.iterdir()) == ["S0001.png", "S0002.png", "S0003.png"]
    capsys.readouterr()
    common = ("staff", "check", "--roster", back_office["signed"], "--backoffice-key",
              back_office["pub"], "--on", "2025-06-15")
    assert dualrec(*common, "--badge", badges / "S0001.png") == 0
    assert "ACCEPTED staff S0001 (bank_employee, badge #1" in capsys.readouterr().out
    assert dualrec(*common, "--badge", badges / "S0003.png", "--json") == 1
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "not_valid"
    assert dualrec(*common, "--staff-id", "S0002", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["staff"]["type"] == "insurer_agent"
    assert "PA123456" not in json.dumps(result) and "Li Si" not in json.dumps(result)
    assert dualrec(*common, "--staff-id", "S0404") == 1
    assert "REFUSED (not_on_roster)" in capsys.readouterr().out
    assert dualrec(*common, "--camera", "sim", "--show", badges / "S0002.png",
                   "--timeout", "5") == 0
    assert "ACCEPTED staff S0002" in capsys.readouterr().out


def test_staff_check_with_unreadable_image_and_forged_roster(back_office: dict[str, Path],
                                                             tmp_path: Path,
                                                             capsys: Any) -> None:
    import cv2
    import numpy as np
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 255, np.uint8))
    common = ("staff", "check", "--backoffice-key", back_office["pub"], "--on", "2025-06-15")
    assert dualrec(*common, "--roster", back_office["signed"], "--badge", blank) == 1
    assert "REFUSED (no_code)" in capsys.readouterr().out
    assert dualrec(*common, "--roster", back_office["signed"], "--badge",
                   tmp_path / "none.png") == 2
    forged = tmp_path / "forged.json"
    forged.write_text(back_office["signed"].read_text("utf-8").replace('"2025-12-31"',
                                                                       '"2035-12-31"'), "utf-8")
    assert dualrec(*common, "--roster", forged, "--staff-id", "S0001") == 2
    assert "changed after the back office signed it" in capsys.readouterr().err


def test_people_check(tmp_path: Path, people_dict: dict[str, Any], capsys: Any) -> None:
    path = tmp_path / "people.json"
    path.write_text(json.dumps(people_dict, ensure_ascii=False), "utf-8")
    assert dualrec("people", "check", path) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID") and "1 policyholder, 2 insured, 1 guardian" in out
    assert "王五" not in out
    assert dualrec("people", "check", path, "--json", "--on", "2025-06-16") == 0
    assert json.loads(capsys.readouterr().out)["roles"]["insured"] == 2
    people_dict["customers"].pop()
    path.write_text(json.dumps(people_dict, ensure_ascii=False), "utf-8")
    assert dualrec("people", "check", path) == 1
    assert "needs a guardian" in capsys.readouterr().out
    assert dualrec("people", "check", tmp_path / "missing.json") == 2
