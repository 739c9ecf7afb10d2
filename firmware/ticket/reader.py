"""Reading a ticket's QR code held up to the unit's camera, and checking it.

:class:`TicketReader` has the code read by the code reader it is given: on the unit, the vision
worker's (:meth:`drivers.vision.VisionService.read_codes`), so that OpenCV never enters the
daemon; this module imports no OpenCV. A ticket code is larger than a badge (about 650
characters, version 16 at level M), so a small analysis frame reads it only when the code fills
most of the picture; :meth:`TicketReader.read_camera` then takes a full-resolution still (sent
to the reader as the camera's JPEG), and codes are always read with the enlarge fallback.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from drivers.camera.base import Camera
from drivers.clock.base import Clock
from drivers.errors import BadDriverArgument
from drivers.vision.findings import CodeReader
from firmware.ticket.check import NO_CODE, TicketChecker, TicketResult
from firmware.ticket.codec import is_ticket_text
from firmware.ticket.errors import MALFORMED, TicketRefused


class TicketReader:
    """Reads ticket QR codes held up to the camera and checks them with ``checker``.

    ``read_codes``: the unit passes its :meth:`drivers.vision.VisionService.read_codes`
    (OpenCV in the vision worker). None reads codes with OpenCV in this process
    (:func:`drivers.vision.codes.read_codes`), for office tools and tests.
    """

    def __init__(self, checker: TicketChecker, read_codes: CodeReader | None = None) -> None:
        self.checker = checker
        if read_codes is None:
            # OpenCV in this process, imported only for the callers that ask for it
            from drivers.vision.codes import read_codes as read_here
            read_codes = read_here
        self._read_codes: CodeReader = read_codes

    def read_text(self, text: str, now: dt.datetime, *, bind: bool = False) -> TicketResult:
        return self.checker.result(text, now, bind=bind)

    def read_image(self, bgr: np.ndarray, now: dt.datetime, *,
                   bind: bool = False) -> TicketResult:
        """The result for a BGR (or grey) image; ``"no_code"`` when no QR code is read. A bad
        array raises :class:`~drivers.errors.BadDriverArgument`; the code reader's other
        driver errors (its worker lost or too slow) propagate unchanged."""
        return self._result(self._read_codes(bgr, enlarge=True), now, bind)

    def read_jpeg(self, jpeg: bytes, now: dt.datetime, *, bind: bool = False) -> TicketResult:
        """The result for a camera still (JPEG or PNG bytes); refused as malformed when the
        bytes are no image or too large."""
        try:
            codes = self._read_codes(jpeg, enlarge=True)
        except BadDriverArgument as exc:
            return TicketResult.refused(TicketRefused(MALFORMED, f"camera still: {exc}"))
        return self._result(codes, now, bind)

    def read_camera(self, camera: Camera, now: dt.datetime, *,
                    bind: bool = False) -> TicketResult:
        """One look through a started camera: the small analysis frame, then (no code
        there) a full-resolution still. Driver errors propagate unchanged."""
        latest = camera.analysis_frame()
        if latest is not None:
            result = self.read_image(latest[0], now, bind=bind)
            if result.status != NO_CODE:
                return result
        jpeg, _timestamp_ns = camera.capture_jpeg()
        return self.read_jpeg(jpeg, now, bind=bind)

    def scan(self, camera: Camera, clock: Clock, *, timeout_s: float = 10.0,
             interval_s: float = 0.5, bind: bool = False) -> TicketResult:
        """Look every ``interval_s`` seconds until a code is read or ``timeout_s`` passes
        (on ``clock``; the ticket's times against ``clock.realtime_ns()``); the first result
        that is not ``"no_code"``, or the last ``"no_code"``."""
        deadline = clock.monotonic_ns() + int(timeout_s * 1e9)
        while True:
            now = dt.datetime.fromtimestamp(clock.realtime_ns() / 1e9, dt.timezone.utc)
            result = self.read_camera(camera, now, bind=bind)
            mono = clock.monotonic_ns()
            if result.status != NO_CODE or mono >= deadline:
                return result
            clock.sleep_until_ns(min(deadline, mono + int(interval_s * 1e9)))

    def _result(self, codes: list[str], now: dt.datetime, bind: bool) -> TicketResult:
        if not codes:
            return TicketResult(NO_CODE, "no QR code could be read in the image",
                                "未识别到二维码：请将双录二维码平放、靠近镜头。")
        text = next((c for c in codes if is_ticket_text(c)), codes[0])
        return self.read_text(text, now, bind=bind)
