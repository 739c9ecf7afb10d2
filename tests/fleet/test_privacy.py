"""The personal-data check every outgoing payload passes."""
from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.protocol.mqtt.errors import PersonalDataError
from firmware.protocol.mqtt.status import DeviceStatus
from firmware.protocol.mqtt.payloads import state_payload, telemetry_payload
from firmware.protocol.mqtt.privacy import (check_payload, check_witness, find_personal_data,
                                    is_resident_id, personal_key, redact_text)
from tests.fleet.harness import FakeHooks

VALID_ID = "11010519491231002X"   # the standard's worked example (valid checksum)


@pytest.mark.parametrize("key", ["name", "customer_name", "customerName", "phone", "mobile_no",
                                 "id_number", "idNumber", "id_card", "face", "face_image",
                                 "passport", "email", "address", "policyholder", "staff_name",
                                 "身份证号", "姓名", "手机号"])
def test_personal_keys_are_refused(key):
    assert personal_key(key)
    with pytest.raises(PersonalDataError, match=key if key.isascii() else "names personal"):
        check_payload({"data": {key: "x"}})


@pytest.mark.parametrize("key", ["microphone", "camera", "pad", "interface", "file_name",
                                 "template_name", "backlog", "chain", "hash", "state", "detail",
                                 "records_since_checkpoint", "command", "device", "branch"])
def test_ordinary_keys_pass(key):
    assert not personal_key(key)


@pytest.mark.parametrize("text", ["call 13812345678 now", "+86 138 1234 5678", "138-1234-5678",
                                  f"id {VALID_ID}", VALID_ID.lower(), "电话13912345678",
                                  "data:image/jpeg;base64," + "A" * 80,
                                  "/9j/" + base64.b64encode(os.urandom(90)).decode()])
def test_personal_values_are_refused(text):
    found = find_personal_data({"ok": [1, {"note": text}]})
    assert found and found.startswith("$.ok[1].note")
    with pytest.raises(PersonalDataError) as exc:
        check_payload({"note": text})
    assert text not in str(exc.value)   # the error never repeats the value


def test_id_checksum_and_date_matter():
    assert is_resident_id(VALID_ID)
    assert not is_resident_id("110105194912310021")          # wrong check character
    assert find_personal_data({"n": "110105194912310021"}) is None
    assert find_personal_data({"n": "110105194913310027"}) is None   # month 13


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_hashes_and_signatures_never_look_personal(raw):
    assert find_personal_data({"hash": raw.hex(), "sig": base64.b64encode(raw * 2).decode(),
                               "seq": int.from_bytes(raw[:8], "big")}) is None


def test_state_and_telemetry_payloads_pass():
    check_payload(state_payload("dr-unit-a", "0451", DeviceStatus("recording", "session x"), 0))
    check_payload(telemetry_payload("dr-unit-a", "0451", FakeHooks().telemetry(), 3, 0))


def test_witness_checked_through_its_record(tmp_path, device_key, clock):
    from firmware.evidence.store import Evidence
    seen = []
    with Evidence.open(tmp_path / "spool", device_key, clock, checkpoint_every=3,
                       on_record=seen.append) as ev:
        for i in range(7):
            ev.event("press", {"button": "NEXT"})
        ev.ledger.checkpoint({"note": "13812345678"})
    witnesses = [r.witness() for r in seen if r.type == "CHECKPOINT"]
    for w in witnesses[:-1]:
        check_witness(w)
    with pytest.raises(PersonalDataError, match=r"\$\.line\.data\.note"):
        check_witness(witnesses[-1])
    with pytest.raises(PersonalDataError, match="not a ledger record"):
        check_witness({"line": "garbage", "seq": 1})


def test_numbers_inside_a_witness_line_are_numbers(device_key):
    from firmware.evidence import records
    body = records.make_body(seq=5, prev="0" * 64, type="CHECKPOINT", device="dr-unit-a",
                             session=None, clock={"mono_ns": 13812345678, "wall_ns": 1,
                                                  "boot_id": "b", "sync": {}},
                             files=[], data={}, key_fingerprint="f" * 32)
    witness = records.sign_body(body, device_key.sign).witness()
    assert ":13812345678," in witness["line"]       # 13.8 s after boot: looks like a phone
    check_witness(witness)
    check_payload({"v": 1, **witness, "ts": "2024-05-01T08:15:00.123Z"})


def test_redact_text():
    text = redact_text(f"user 13812345678 with {VALID_ID}; seq 110105194912310021 stays\n")
    assert "13812345678" not in text and VALID_ID not in text
    assert "110105194912310021" in text and text.count("[redacted]") == 2
