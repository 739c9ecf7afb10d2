"""Staff badges read the way the unit reads them: codes decoded by the vision worker
(``VisionService.read_codes`` handed to the reader), from the camera's analysis image and
from its JPEG still."""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import pytest

from drivers.camera import DiscardFrames, open_camera
from drivers.clock import SimClock
from drivers.vision import VisionService
from firmware.evidence.keys import DeviceKey
from firmware.people import BadgeError, Roster, parse_signed_roster
from firmware.people.badge_reader import BadgeReader
from provisioning.roster import badge_image


@pytest.fixture(scope="module")
def vision() -> Iterator[VisionService]:
    with VisionService(threads=1) as v:
        yield v


@pytest.fixture
def roster(signed_roster: bytes, backoffice_key: DeviceKey, samples: Any) -> Roster:
    return parse_signed_roster(signed_roster, backoffice_key.public, samples.today)


@pytest.fixture
def reader(roster: Roster, vision: VisionService) -> BadgeReader:
    return BadgeReader(roster, vision.read_codes)


def test_badge_image_and_still_read_through_the_worker(reader: BadgeReader, roster: Roster,
                                                      backoffice_key: DeviceKey,
                                                      samples: Any) -> None:
    image = badge_image(roster.get("S0001"), backoffice_key)
    assert reader.read_image(image, samples.today).ok
    assert reader.read_jpeg(b"not a jpeg", samples.today).status == "no_code"
    with pytest.raises(BadgeError, match="not an image"):
        reader.read_image(np.zeros((4, 4), np.float32), samples.today)


def test_small_badge_read_from_the_full_resolution_still(
        reader: BadgeReader, vision: VisionService, roster: Roster, backoffice_key: DeviceKey,
        samples: Any) -> None:
    """4 px a module in the 1280x960 still, 1 px in the analysis image: the still (a JPEG)
    crosses to the worker and is read there."""
    scene = np.full((960, 1280, 3), 90, np.uint8)
    badge = badge_image(roster.get("S0001"), backoffice_key, module_px=4)
    scene[20:20 + badge.shape[0], 20:20 + badge.shape[1]] = badge
    camera = open_camera("sim", clock=SimClock(), width=1280, height=960, fps=10)
    camera.show_image(scene)
    camera.start(DiscardFrames())
    try:
        camera.capture_jpeg()  # wait for a frame with the scene
        assert vision.read_codes(camera.analysis_frame()[0]) == []
        result = reader.read_camera(camera, samples.today)
        assert result.ok, result.message
        assert result.staff_id == "S0001"
    finally:
        camera.close()
