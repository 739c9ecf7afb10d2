"""Fixtures for people, roster and badge tests: real Ed25519 keys, valid identities, rosters."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable

import pytest

from firmware.evidence.keys import DeviceKey
from firmware.people.id_documents import gb11643_check_char
from firmware.people.signed_roster import sign_roster

TODAY = dt.date(2025, 6, 15)


class Samples:
    """Valid sample data, handed to tests by the ``samples`` fixture (tests cannot import
    this conftest under --import-mode=importlib)."""

    today = TODAY

    @staticmethod
    def citizen_number(birth: dt.date, region: str = "110105", seq: str = "123") -> str:
        return citizen_number(birth, region, seq)

    @staticmethod
    def identity(kind: str) -> dict[str, Any]:
        return identity(kind)

    @staticmethod
    def roster_body(**overrides: Any) -> dict[str, Any]:
        return roster_body(**overrides)


@pytest.fixture
def samples() -> Samples:
    return Samples()


def citizen_number(birth: dt.date, region: str = "110105", seq: str = "123") -> str:
    """A valid 18-character citizen number for someone born on ``birth``."""
    first17 = f"{region}{birth:%Y%m%d}{seq}"
    return first17 + gb11643_check_char(first17)


def identity(kind: str) -> dict[str, Any]:
    """A valid identity of type ``kind`` in its dict form."""
    return {
        "bank_employee": {"type": "bank_employee", "name": "张三", "agent_code": "AG0001",
                          "org_code": "ICBC0101", "gender": "M", "phone": "13812345678",
                          "channel": "bank", "outlet_code": "OUT001"},
        "insurer_agent": {"type": "insurer_agent", "name": "Li Si", "agent_code": "PA123456",
                          "org_code": "PA01", "gender": "F", "phone": "19987654321",
                          "channel_code": "AGY", "outlet_code": "SZ07"},
        "intermediary_employee": {"type": "intermediary_employee", "company_code": "MINSHENG",
                                  "name": "买买提·艾力", "staff_number": "000123",
                                  "phone": "15000000000", "org_code": "BJ", "gender": "M"},
    }[kind]


def roster_body(**overrides: Any) -> dict[str, Any]:
    """An unsigned roster, current on :data:`TODAY`, with three staff of the three types."""
    staff = [
        {"staff_id": "S0001", "badge": 1, "valid_from": "2025-01-01",
         "valid_until": "2025-12-31", "identity": identity("bank_employee")},
        {"staff_id": "S0002", "badge": 3, "valid_from": "2025-01-01",
         "valid_until": "2026-12-31", "identity": identity("insurer_agent")},
        {"staff_id": "S0003", "badge": 1, "valid_from": "2024-01-01",
         "valid_until": "2025-06-14", "identity": identity("intermediary_employee")},
    ]
    body = {"format": "dualrec-roster-v1", "issuer": "Example Life back office",
            "serial": 7, "issued": "2025-06-01", "expires": "2025-09-30", "staff": staff}
    body.update(overrides)
    return body


@pytest.fixture
def backoffice_key(tmp_path: Path) -> DeviceKey:
    return DeviceKey.load_or_create(tmp_path / "backoffice" / "roster.key")


@pytest.fixture
def other_key(tmp_path: Path) -> DeviceKey:
    return DeviceKey.load_or_create(tmp_path / "other" / "roster.key")


@pytest.fixture
def signed_roster(backoffice_key: DeviceKey) -> bytes:
    return sign_roster(roster_body(), backoffice_key.sign, backoffice_key.public)


@pytest.fixture
def roster_files(tmp_path: Path, backoffice_key: DeviceKey,
                 signed_roster: bytes) -> Callable[[], tuple[Path, Path]]:
    """Writes the signed roster and the public key file; returns (roster, public key) paths."""
    def write() -> tuple[Path, Path]:
        roster = tmp_path / "roster.json"
        roster.write_bytes(signed_roster)
        pub = tmp_path / "backoffice.pub"
        pub.write_text(backoffice_key.public.b64 + "\n")
        return roster, pub
    return write


@pytest.fixture
def people_dict() -> dict[str, Any]:
    """A people.json of a bank-employee sale: an adult policyholder insuring themself and a
    child, with the policyholder as the child's guardian."""
    holder = {"name": "王五", "id_type": "resident_id",
              "id_number": citizen_number(dt.date(1980, 3, 1))}
    child = citizen_number(dt.date(2015, 7, 20), seq="456")
    return {"application_number": "TB2025061500001", "session_date": TODAY.isoformat(),
            "staff_id": "S0001", "salesperson": identity("bank_employee"),
            "customers": [{"role": "policyholder", **holder}, {"role": "insured", **holder},
                          {"role": "insured", "name": "王小明", "id_type": "resident_id",
                           "id_number": child},
                          {"role": "guardian", **holder, "guardian_for": child}]}
