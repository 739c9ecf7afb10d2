"""Tickets read the way the unit reads them: codes decoded by the vision worker
(``VisionService.read_codes`` handed to the reader), with the enlarge fallback."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest

from drivers.camera import DiscardFrames, open_camera
from drivers.clock import SimClock
from drivers.vision import VisionService
from firmware.evidence.keys import DeviceKey
from firmware.ticket import TicketChecker, UnitScope, UsedTickets
from firmware.ticket.qr import ticket_qr_image
from firmware.ticket.reader import TicketReader
from tests.ticket.test_qr import phone_photo

UNIT = UnitScope("dr-0001", "BANK3101", "SH0012")


@pytest.fixture(scope="module")
def vision() -> Iterator[VisionService]:
    with VisionService(threads=1) as v:
        yield v


@pytest.fixture
def reader(sales_key: DeviceKey, tmp_path: Path, vision: VisionService) -> TicketReader:
    return TicketReader(TicketChecker([sales_key.public], UNIT, UsedTickets(tmp_path / "used")),
                        vision.read_codes)


def test_a_far_phone_photo_is_read_enlarged_in_the_worker(sample_text: str, now: dt.datetime,
                                                          reader: TicketReader) -> None:
    photo = phone_photo(sample_text, 300, angle=3, noise=3, blur=0.7)
    assert reader.read_image(photo, now).ok
    ok, jpeg = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert reader.read_jpeg(jpeg.tobytes(), now).ok
    refused = reader.read_jpeg(b"\xff\xd8 not really", now)
    assert refused.status == "malformed" and "camera still" in refused.message


def test_through_the_simulated_camera(sample_text: str, reader: TicketReader,
                                      now: dt.datetime) -> None:
    clock = SimClock(start_wall_ns=int(now.timestamp() * 1e9))
    with open_camera("sim", clock=clock, width=1280, height=960, fps=10) as camera:
        camera.start(DiscardFrames())
        try:
            scene = np.full((960, 1280, 3), 90, np.uint8)
            code = ticket_qr_image(sample_text, module_px=5)
            scene[100:100 + code.shape[0], 300:300 + code.shape[1]] = code
            camera.show_image(scene)
            result = reader.scan(camera, clock, timeout_s=5, bind=True)
            assert result.ok, result.message
            assert reader.read_camera(camera, now, bind=True).status == "reused"
        finally:
            camera.stop()
