"""Staff badges: the code, its image, and reading it through the simulated camera."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import cv2
import numpy as np
import pytest

from drivers.camera import DiscardFrames, open_camera
from drivers.clock import SimClock
from firmware.evidence.keys import DeviceKey
from firmware.people import (BadgeError, Roster, RosterSignatureError, StaffNotOnRoster,
                             StaffNotValid, parse_signed_roster)
from firmware.people.badge import BadgeCode, make_badge_code, parse_badge_code
from firmware.people.badge_reader import BadgeReader
from firmware.people.qr import decode_qr, qr_image
from firmware.people.salesperson import BankEmployee
from provisioning.roster import badge_image


@pytest.fixture
def roster(signed_roster: bytes, backoffice_key: DeviceKey, samples: Any) -> Roster:
    return parse_signed_roster(signed_roster, backoffice_key.public, samples.today)


@pytest.fixture
def reader(roster: Roster) -> BadgeReader:
    return BadgeReader(roster)


@pytest.fixture
def camera() -> Iterator[Any]:
    clock = SimClock()
    with open_camera("sim", clock=clock, width=640, height=480, fps=10) as cam:
        cam.clock = clock
        yield cam


def badge_text(key: DeviceKey, staff_id: str, badge: int) -> str:
    return make_badge_code(staff_id, badge, key.sign).text


def test_badge_code_round_trip(backoffice_key: DeviceKey) -> None:
    code = make_badge_code("S0001", 1, backoffice_key.sign)
    assert code.text.startswith("DRSTAFF1:S0001:1:")
    assert len(code.text) == len("DRSTAFF1:S0001:1:") + 86
    parsed = parse_badge_code(code.text)
    assert parsed == code
    assert parsed.verify(backoffice_key.public)


@pytest.mark.parametrize("text", ["DRSTAFF1:S0001", "DRSTAFF1:S0001:1:short",
                                  "DRSTAFF1:S:0001:1:" + "A" * 86, "DRSTAFF2:S0001:1:" + "A" * 86,
                                  "DRSTAFF1:S0001:0:" + "A" * 86])
def test_malformed_codes(text: str) -> None:
    with pytest.raises(BadgeError, match="not a dualrec staff badge code"):
        parse_badge_code(text)


def test_qr_image_round_trip(backoffice_key: DeviceKey) -> None:
    text = badge_text(backoffice_key, "S0002", 3)
    image = qr_image(text, module_px=4, label="S0002")
    assert image.dtype == np.uint8 and image.ndim == 3
    assert decode_qr(image) == text
    assert decode_qr(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)) == text
    with pytest.raises(BadgeError, match="ASCII"):
        qr_image(text, label="张三")


def test_reader_accepts_a_genuine_badge_image(reader: BadgeReader, roster: Roster,
                                              backoffice_key: DeviceKey, samples: Any) -> None:
    result = reader.read_image(badge_image(roster.get("S0001"), backoffice_key), samples.today)
    assert result.ok, result.message
    assert result.staff_id == "S0001"
    assert isinstance(result.identity, BankEmployee)
    assert result.require() is result.entry
    summary = result.summary()
    assert summary == {"status": "ok", "type": "bank_employee", "badge": 1,
                       "agent_code_hash": result.identity.agent_code_hash}


def test_badge_signed_by_another_key_is_forged(reader: BadgeReader, other_key: DeviceKey,
                                               samples: Any) -> None:
    result = reader.read_text(badge_text(other_key, "S0001", 1), samples.today)
    assert result.status == "forged"
    assert result.staff_id == "S0001" and result.identity is None
    with pytest.raises(BadgeError, match="not signed by the back office"):
        result.require()


def test_swapped_staff_id_under_a_genuine_signature(reader: BadgeReader,
                                                    backoffice_key: DeviceKey,
                                                    samples: Any) -> None:
    genuine = parse_badge_code(badge_text(backoffice_key, "S0001", 1))
    swapped = BadgeCode("S0002", 3, genuine.signature)
    assert reader.read_text(swapped.text, samples.today).status == "forged"


def test_badge_of_someone_not_on_the_roster(reader: BadgeReader, backoffice_key: DeviceKey,
                                            samples: Any) -> None:
    result = reader.read_text(badge_text(backoffice_key, "S0404", 1), samples.today)
    assert result.status == "not_on_roster"
    with pytest.raises(StaffNotOnRoster):
        result.require()


def test_badge_of_expired_staff(reader: BadgeReader, backoffice_key: DeviceKey,
                                samples: Any) -> None:
    result = reader.read_text(badge_text(backoffice_key, "S0003", 1), samples.today)
    assert result.status == "not_valid"
    assert "expired on 2025-06-14" in result.message
    with pytest.raises(StaffNotValid):
        result.require()
    assert reader.read_text(badge_text(backoffice_key, "S0003", 1),
                            dt.date(2025, 6, 14)).ok


def test_replaced_badge_is_superseded(reader: BadgeReader, backoffice_key: DeviceKey,
                                      samples: Any) -> None:
    result = reader.read_text(badge_text(backoffice_key, "S0002", 2), samples.today)
    assert result.status == "superseded"
    assert "current badge: 3" in result.message
    assert reader.read_text(badge_text(backoffice_key, "S0002", 3), samples.today).ok


def test_other_qr_codes_and_unreadable_images(reader: BadgeReader, samples: Any) -> None:
    result = reader.read_image(qr_image("https://example.com/menu"), samples.today)
    assert result.status == "not_a_badge"
    blank = np.full((480, 640, 3), 200, np.uint8)
    assert reader.read_image(blank, samples.today).status == "no_code"
    noise = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    result = reader.read_image(noise, samples.today)
    assert result.status == "no_code"
    assert "no QR code" in result.message
    with pytest.raises(BadgeError, match="no QR code"):
        result.require()
    assert reader.read_jpeg(b"not a jpeg", samples.today).status == "no_code"
    with pytest.raises(BadgeError, match="not an image"):
        reader.read_image(np.zeros((4, 4), np.float32), samples.today)


def test_reader_needs_a_verified_roster(samples: Any) -> None:
    unsigned = Roster.from_body(samples.roster_body())
    with pytest.raises(RosterSignatureError, match="never checked"):
        BadgeReader(unsigned)


def test_badge_through_the_simulated_camera(camera: Any, reader: BadgeReader, roster: Roster,
                                            backoffice_key: DeviceKey, samples: Any) -> None:
    camera.start(DiscardFrames())
    try:
        result = reader.scan(camera, samples.today, camera.clock, timeout_s=0.5)
        assert result.status == "no_code"  # the test pattern: nothing to read
        camera.show_image(badge_image(roster.get("S0002"), backoffice_key))
        result = reader.scan(camera, samples.today, camera.clock, timeout_s=5)
        assert result.ok, result.message
        assert result.staff_id == "S0002"
        assert result.identity.TYPE == "insurer_agent"
        assert result.identity.agent_code == "PA123456"
    finally:
        camera.stop()


def test_full_resolution_still_is_used_when_the_analysis_frame_is_too_small(
        reader: BadgeReader, roster: Roster, backoffice_key: DeviceKey, samples: Any) -> None:
    # A small badge in a corner of a big scene: 4 px per module in the full-resolution
    # still, 1 px in the 320 px wide analysis frame.
    scene = np.full((960, 1280, 3), 90, np.uint8)
    badge = badge_image(roster.get("S0001"), backoffice_key, module_px=4)
    scene[20:20 + badge.shape[0], 20:20 + badge.shape[1]] = badge
    camera = open_camera("sim", clock=SimClock(), width=1280, height=960, fps=10)
    camera.show_image(scene)
    camera.start(DiscardFrames())
    try:
        camera.capture_jpeg()  # wait for a frame with the scene
        small = camera.analysis_frame()[0]
        assert decode_qr(small) is None
        result = reader.read_camera(camera, samples.today)
        assert result.ok, result.message
        assert result.staff_id == "S0001"
    finally:
        camera.close()


def test_forged_badge_through_the_camera(camera: Any, reader: BadgeReader,
                                         other_key: DeviceKey, samples: Any) -> None:
    camera.show_image(qr_image(badge_text(other_key, "S0001", 1), label="S0001"))
    camera.start(DiscardFrames())
    try:
        result = reader.scan(camera, samples.today, camera.clock, timeout_s=5)
    finally:
        camera.stop()
    assert result.status == "forged"
