"""The signed roster: sign and verify, edits, foreign keys, dates, rollback, install."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from firmware.errors import KeyFileError
from firmware.evidence.keys import DeviceKey
from firmware.people import (FieldError, RosterError, RosterExpiredError, RosterFormatError,
                             RosterRollbackError, RosterSignatureError, StaffNotOnRoster,
                             StaffNotValid, install_roster, load_roster, parse_signed_roster,
                             sign_roster, verify_signed_roster)
from firmware.people.salesperson import BankEmployee, IntermediaryEmployee
from firmware.people.signed_roster import read_public_key


def resign_edited(raw: bytes, edit) -> bytes:
    """``raw`` with its body changed by ``edit(body)`` and the old signature kept."""
    envelope = json.loads(raw)
    edit(envelope["roster"])
    return json.dumps(envelope, ensure_ascii=False, indent=2).encode()


def test_sign_verify_round_trip(signed_roster: bytes, backoffice_key: DeviceKey,
                                samples: Any) -> None:
    roster = parse_signed_roster(signed_roster, backoffice_key.public, samples.today)
    assert roster.signer == backoffice_key.public
    assert roster.serial == 7 and len(roster) == 3
    assert roster.body() == samples.roster_body()
    entry = roster.lookup("S0001", samples.today)
    assert isinstance(entry.identity, BankEmployee)
    assert entry.identity.agent_code == "AG0001"
    assert isinstance(roster.get("S0003").identity, IntermediaryEmployee)
    envelope = json.loads(signed_roster)
    assert envelope["key"] == backoffice_key.public.fingerprint
    assert envelope["format"] == "dualrec-signed-roster-v1"


@pytest.mark.parametrize("edit", [
    lambda body: body["staff"][0]["identity"].update(phone="13800000000"),
    lambda body: body["staff"][1].update(valid_until="2099-12-31"),
    lambda body: body.update(expires="2099-12-31"),
    lambda body: body["staff"].pop(),
    lambda body: body["staff"].append(dict(body["staff"][0], staff_id="S9999")),
    lambda body: body.update(serial=8),
], ids=["phone", "valid_until", "expires", "removed", "added", "serial"])
def test_an_edited_roster_is_refused(signed_roster: bytes, backoffice_key: DeviceKey,
                                     samples: Any, edit) -> None:
    forged = resign_edited(signed_roster, edit)
    with pytest.raises(RosterSignatureError, match="changed after the back office signed it"):
        parse_signed_roster(forged, backoffice_key.public, samples.today)


def test_reformatting_a_signed_roster_keeps_it_valid(signed_roster: bytes,
                                                      backoffice_key: DeviceKey,
                                                      samples: Any) -> None:
    compact = json.dumps(json.loads(signed_roster), separators=(",", ":")).encode()
    assert parse_signed_roster(compact, backoffice_key.public, samples.today).serial == 7


def test_a_roster_signed_by_another_key_is_refused(other_key: DeviceKey,
                                                   backoffice_key: DeviceKey,
                                                   samples: Any) -> None:
    foreign = sign_roster(samples.roster_body(), other_key.sign, other_key.public)
    with pytest.raises(RosterSignatureError, match="signed by another key") as info:
        parse_signed_roster(foreign, backoffice_key.public, samples.today)
    assert other_key.public.fingerprint in str(info.value)
    # Claiming the right fingerprint does not help.
    envelope = json.loads(foreign)
    envelope["key"] = backoffice_key.public.fingerprint
    with pytest.raises(RosterSignatureError):
        parse_signed_roster(json.dumps(envelope).encode(), backoffice_key.public, samples.today)


def test_an_unsigned_roster_is_refused(backoffice_key: DeviceKey, samples: Any) -> None:
    raw = json.dumps(samples.roster_body()).encode()
    with pytest.raises(RosterFormatError, match="not a signed roster.*roster sign"):
        parse_signed_roster(raw, backoffice_key.public, samples.today)
    with pytest.raises(RosterFormatError, match="not JSON"):
        parse_signed_roster(b"\x00garbage", backoffice_key.public, samples.today)


def test_a_wrong_signature_encoding_is_refused(signed_roster: bytes, backoffice_key: DeviceKey,
                                               samples: Any) -> None:
    envelope = json.loads(signed_roster)
    envelope["signature"] = "not base64!"
    with pytest.raises(RosterFormatError, match="not base64"):
        parse_signed_roster(json.dumps(envelope).encode(), backoffice_key.public, samples.today)


def test_an_expired_roster_is_refused(signed_roster: bytes, backoffice_key: DeviceKey) -> None:
    key = backoffice_key.public
    assert parse_signed_roster(signed_roster, key, dt.date(2025, 9, 30)).serial == 7
    with pytest.raises(RosterExpiredError, match="expired on 2025-09-30"):
        parse_signed_roster(signed_roster, key, dt.date(2025, 10, 1))
    with pytest.raises(RosterExpiredError, match="check the unit's clock"):
        parse_signed_roster(signed_roster, key, dt.date(2025, 5, 31))
    # Dates are not part of signature checking alone.
    assert verify_signed_roster(signed_roster, key).serial == 7


def test_staff_lookup_and_validity_dates(signed_roster: bytes, backoffice_key: DeviceKey,
                                         samples: Any) -> None:
    roster = parse_signed_roster(signed_roster, backoffice_key.public, samples.today)
    assert roster.lookup("S0002", samples.today).badge == 3
    with pytest.raises(StaffNotOnRoster, match="'S0404' is not on the roster"):
        roster.lookup("S0404", samples.today)
    with pytest.raises(StaffNotValid, match="'S0003' expired on 2025-06-14"):
        roster.lookup("S0003", samples.today)
    assert roster.lookup("S0003", dt.date(2025, 6, 14)).staff_id == "S0003"
    with pytest.raises(StaffNotValid, match="valid only from 2025-01-01"):
        roster.lookup("S0001", dt.date(2024, 12, 31))
    with pytest.raises(LookupError):
        roster.lookup("S0404", samples.today)


@pytest.mark.parametrize("edit,field", [
    (lambda b: b["staff"][1].update(staff_id="S0001"), r"roster\.staff\[1\]\.staff_id: is "
                                                       "listed twice"),
    (lambda b: b["staff"][0].update(valid_until="2024-01-01"),
     r"roster\.staff\[0\]\.valid_until: must not be before valid_from"),
    (lambda b: b["staff"][2]["identity"].update(phone="123"),
     r"roster\.staff\[2\]\.identity\.phone: must be a mainland mobile"),
    (lambda b: b["staff"][0].update(badge=0), r"roster\.staff\[0\]\.badge: must be from 1"),
    (lambda b: b["staff"][0].update(staff_id="S:1"), r"roster\.staff\[0\]\.staff_id"),
    (lambda b: b.update(expires="2025-05-01"), r"roster\.expires: must not be before issued"),
    (lambda b: b.update(serial=1.5), r"roster\.serial: must be a whole number"),
    (lambda b: b.update(extra=1), r"roster\.extra: is not a known field"),
], ids=["duplicate", "dates", "identity", "badge", "staff_id", "expires", "serial", "extra"])
def test_a_bad_roster_is_not_signed(backoffice_key: DeviceKey, samples: Any, edit,
                                    field: str) -> None:
    body = samples.roster_body()
    edit(body)
    with pytest.raises(FieldError, match=field):
        sign_roster(body, backoffice_key.sign, backoffice_key.public)


def test_signing_with_a_mismatched_public_key_fails(backoffice_key: DeviceKey,
                                                    other_key: DeviceKey, samples: Any) -> None:
    with pytest.raises(RosterSignatureError, match="do not match"):
        sign_roster(samples.roster_body(), backoffice_key.sign, other_key.public)


def test_load_roster_from_a_file(tmp_path: Path, roster_files, backoffice_key: DeviceKey,
                                 samples: Any) -> None:
    roster_path, _pub = roster_files()
    assert load_roster(roster_path, backoffice_key.public, samples.today).serial == 7
    with pytest.raises(RosterFormatError, match="cannot read the roster"):
        load_roster(tmp_path / "missing.json", backoffice_key.public, samples.today)
    with pytest.raises(RosterError):
        load_roster(roster_path, backoffice_key.public, dt.date(2030, 1, 1))


def test_install_refuses_bad_and_older_rosters(tmp_path: Path, signed_roster: bytes,
                                               backoffice_key: DeviceKey, other_key: DeviceKey,
                                               samples: Any) -> None:
    target = tmp_path / "unit" / "roster.json"
    assert install_roster(signed_roster, target, backoffice_key.public, samples.today).serial == 7
    newer = sign_roster(samples.roster_body(serial=8), backoffice_key.sign,
                        backoffice_key.public)
    assert install_roster(newer, target, backoffice_key.public, samples.today).serial == 8
    with pytest.raises(RosterRollbackError, match="serial 7 is older"):
        install_roster(signed_roster, target, backoffice_key.public, samples.today)
    foreign = sign_roster(samples.roster_body(serial=9), other_key.sign, other_key.public)
    with pytest.raises(RosterSignatureError):
        install_roster(foreign, target, backoffice_key.public, samples.today)
    assert target.read_bytes() == newer
    assert load_roster(target, backoffice_key.public, samples.today, min_serial=8).serial == 8


def test_read_public_key_from_file_or_text(tmp_path: Path, backoffice_key: DeviceKey) -> None:
    pub = tmp_path / "bo.pub"
    pub.write_text(backoffice_key.public.b64 + "\n")
    assert read_public_key(str(pub)) == backoffice_key.public
    assert read_public_key(backoffice_key.public.b64) == backoffice_key.public
    with pytest.raises(KeyFileError, match="cannot read the back-office public key"):
        read_public_key(str(tmp_path / "missing.pub"))
    with pytest.raises(KeyFileError, match="not a base64 Ed25519 public key"):
        read_public_key("!" * 44)


def test_the_documented_roster_example_is_valid(backoffice_key: DeviceKey) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "people.md").read_text("utf-8")
    section = doc.split("### The roster (what the back office writes, unsigned)")[1]
    example = section.split("```json")[1].split("```")[0]
    raw = sign_roster(json.loads(example), backoffice_key.sign, backoffice_key.public)
    roster = parse_signed_roster(raw, backoffice_key.public, dt.date(2025, 6, 15))
    assert roster.lookup("S0001", dt.date(2025, 6, 15)).identity.TYPE == "bank_employee"
