"""Tickets as QR codes: drawn, photographed off a phone screen, read from files and the camera."""
from __future__ import annotations

import datetime as dt
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera import DiscardFrames, open_camera
from drivers.clock import SimClock
from firmware.evidence.keys import DeviceKey
from firmware.people.qr import decode_qr
from firmware.ticket import TicketChecker, UnitScope, UsedTickets
from firmware.ticket.qr import (TicketReader, decode_image_bytes, qr_version, read_ticket_source,
                                ticket_qr_image, write_ticket_png)

UNIT = UnitScope("dr-0001", "BANK3101", "SH0012")


def phone_photo(text: str, qr_px: int, *, frame: tuple[int, int] = (1920, 1080),
                angle: float = 0.0, noise: float = 0.0, blur: float = 0.0,
                seed: int = 0) -> np.ndarray:
    """A camera still of a phone screen (1080 x 2340) showing the ticket's QR code, placed so
    the code is ``qr_px`` pixels wide in a ``frame``-sized still: tilted back a little,
    turned ``angle`` degrees, blurred, dimmed, with sensor noise and JPEG compression."""
    rng = np.random.default_rng(seed)
    screen = np.full((2340, 1080, 3), 255, np.uint8)
    code = ticket_qr_image(text, module_px=10)
    size = code.shape[0]
    top, left = (2340 - size) // 2, (1080 - size) // 2
    screen[top:top + size, left:left + size] = code
    scale = qr_px / size
    width, height = frame
    w, h = 1080 * scale, 2340 * scale
    cx, cy = width / 2, height / 2
    corners = np.float32([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2],
                          [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]])
    corners[0] += [w * 0.03, 0]
    corners[1] -= [w * 0.03, 0]  # the top edge further away: the phone leans back
    turn = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    corners = cv2.transform(corners[None], turn)[0].astype(np.float32)
    warp = cv2.getPerspectiveTransform(
        np.float32([[0, 0], [1080, 0], [1080, 2340], [0, 2340]]), corners)
    photo = cv2.warpPerspective(screen, warp, frame, flags=cv2.INTER_AREA,
                                borderValue=(60, 60, 60))
    if blur:
        photo = cv2.GaussianBlur(photo, (0, 0), blur)
    photo = photo.astype(np.float32) * 0.8 + 20 + rng.normal(0, noise, photo.shape)
    ok, jpeg = cv2.imencode(".jpg", np.clip(photo, 0, 255).astype(np.uint8),
                            [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


@pytest.fixture
def reader(sales_key: DeviceKey, tmp_path: Path) -> TicketReader:
    return TicketReader(TicketChecker([sales_key.public], UNIT, UsedTickets(tmp_path / "used")))


def test_rendered_code_reads_back(sample_text: str) -> None:
    image = ticket_qr_image(sample_text)
    assert decode_qr(image) == sample_text
    assert qr_version(sample_text) == 16  # three people with Chinese names, level M
    assert image.shape[0] == (17 + 4 * 16 + 8) * 6


@pytest.mark.parametrize("qr_px, angle, noise, blur", [
    (600, 0, 0, 0),      # 6.7 px a module: the phone held close
    (450, 8, 6, 0),      # turned, noisy
    (450, 5, 5, 1.0),    # turned, noisy and a little out of focus
    (300, 3, 3, 0.7),    # 3.4 px a module: read only after the code is located and enlarged
    (250, 8, 0, 0),      # 2.8 px a module
])
def test_photo_of_a_phone_screen_reads(sample_text: str, qr_px: int, angle: float,
                                       noise: float, blur: float) -> None:
    photo = phone_photo(sample_text, qr_px, angle=angle, noise=noise, blur=blur)
    assert decode_qr(photo, enlarge=True) == sample_text


def test_files_png_jpeg_and_text(sample_text: str, tmp_path: Path) -> None:
    png = write_ticket_png(sample_text, tmp_path / "t.png")
    assert read_ticket_source(png) == sample_text
    jpeg = tmp_path / "photo.jpg"
    cv2.imwrite(str(jpeg), phone_photo(sample_text, 400, angle=4, noise=4))
    assert read_ticket_source(jpeg) == sample_text
    for name, raw in (("unix.txt", sample_text + "\n"), ("dos.txt", sample_text + "\r\n"),
                      ("bare.txt", sample_text)):
        (tmp_path / name).write_text(raw, encoding="ascii", newline="")
        assert read_ticket_source(tmp_path / name) == sample_text
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 255, np.uint8))
    assert read_ticket_source(blank) is None


def test_unusable_files(tmp_path: Path) -> None:
    (tmp_path / "binary").write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match="neither"):
        read_ticket_source(tmp_path / "binary")
    (tmp_path / "long.txt").write_text("DRT1:" + "A" * 5000, encoding="ascii")
    with pytest.raises(ValueError, match="longer than"):
        read_ticket_source(tmp_path / "long.txt")
    with pytest.raises(OSError):
        read_ticket_source(tmp_path / "missing.png")
    (tmp_path / "link.png").symlink_to(tmp_path / "binary")
    with pytest.raises(OSError):
        read_ticket_source(tmp_path / "link.png")


def test_an_image_bomb_is_refused_before_decoding() -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # 10 gigapixels
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    with pytest.raises(ValueError, match="pixels is more than"):
        decode_image_bytes(bomb)
    with pytest.raises(ValueError, match="not a PNG or JPEG"):
        decode_image_bytes(b"GIF89a")


def test_through_the_simulated_camera(sample_text: str, reader: TicketReader,
                                      now: dt.datetime) -> None:
    clock = SimClock(start_wall_ns=int(now.timestamp() * 1e9))
    with open_camera("sim", clock=clock, width=1280, height=960, fps=10) as camera:
        camera.start(DiscardFrames())
        try:
            result = reader.scan(camera, clock, timeout_s=0.3)
            assert result.status == "no_code"  # the test pattern: nothing to read
            scene = np.full((960, 1280, 3), 90, np.uint8)
            code = ticket_qr_image(sample_text, module_px=5)
            scene[100:100 + code.shape[0], 300:300 + code.shape[1]] = code
            camera.show_image(scene)
            result = reader.scan(camera, clock, timeout_s=5, bind=True)
            assert result.ok, result.message
            assert result.ticket is not None and result.ticket.staff_id == "S0001"
            result = reader.read_camera(camera, now, bind=True)
            assert result.status == "reused"
        finally:
            camera.stop()
