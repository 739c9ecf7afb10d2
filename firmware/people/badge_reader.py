"""Reading a staff badge held up to the camera, and finding its holder on the roster.

At the counter there is no keyboard: the salesperson shows their badge's QR code to the
camera. :class:`BadgeReader` has the code read from an image (or from the camera's frames) by
the code reader it is given (on the unit, the vision worker's), checks the back office's
signature on it, and looks the staff member up in the signed roster. Every
outcome is a :class:`BadgeResult` with a status saying which, so the session flow can signal
it (LED, buzzer, spoken prompt) and put it on the chain with :meth:`BadgeResult.summary`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from drivers.camera.base import Camera
from drivers.clock.base import Clock
from drivers.errors import BadDriverArgument
from drivers.vision.findings import CodeReader
from firmware.people.badge import is_badge_text, parse_badge_code
from firmware.people.errors import (BadgeError, RosterSignatureError, StaffNotOnRoster,
                                    StaffNotValid)
from firmware.people.roster import Roster, StaffEntry
from firmware.people.salesperson import Salesperson

OK = "ok"
NO_CODE = "no_code"              # no QR code could be read in the image
NOT_A_BADGE = "not_a_badge"      # a QR code, but not a dualrec staff badge
FORGED = "forged"                # a badge not signed by the roster's back-office key
NOT_ON_ROSTER = "not_on_roster"  # a genuine badge of someone the roster does not list
SUPERSEDED = "superseded"        # a genuine badge, but not the member's current badge number
NOT_VALID = "not_valid"          # on the roster, but outside their valid_from .. valid_until
STATUSES = (OK, NO_CODE, NOT_A_BADGE, FORGED, NOT_ON_ROSTER, SUPERSEDED, NOT_VALID)


@dataclass(frozen=True)
class BadgeResult:
    """What one badge reading came to. ``entry`` is set only when ``status`` is ``"ok"``;
    ``staff_id`` whenever a badge code was read (even a forged one: it says who it claims)."""

    status: str
    message: str
    staff_id: str | None = None
    entry: StaffEntry | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def identity(self) -> Salesperson | None:
        """The salesperson's identity, when the badge was accepted."""
        return self.entry.identity if self.entry is not None else None

    def require(self) -> StaffEntry:
        """The roster entry, or the matching error: :class:`StaffNotOnRoster`,
        :class:`StaffNotValid`, or :class:`BadgeError` for an unreadable, foreign, forged or
        superseded badge."""
        if self.entry is not None:
            return self.entry
        if self.status == NOT_ON_ROSTER:
            raise StaffNotOnRoster(self.message)
        if self.status == NOT_VALID:
            raise StaffNotValid(self.message)
        raise BadgeError(self.message)

    def summary(self) -> dict[str, object]:
        """For an EVENT record: the status and, when accepted, the identity type and its
        agent-code pseudonym; never a name or a phone number."""
        out: dict[str, object] = {"status": self.status}
        if self.entry is not None:
            out["type"] = self.entry.identity.TYPE
            out["agent_code_hash"] = self.entry.identity.agent_code_hash
            out["badge"] = self.entry.badge
        return out


class BadgeReader:
    """Reads badges against one signed roster; badge signatures are checked with the key
    that signed the roster (:attr:`Roster.signer`)."""

    def __init__(self, roster: Roster, read_codes: CodeReader | None = None) -> None:
        """``read_codes`` reads the QR codes in an image or a JPEG still: the unit passes its
        :meth:`drivers.vision.VisionService.read_codes` (OpenCV in the vision worker, never in
        the daemon). None reads them with OpenCV in this process
        (:func:`drivers.vision.codes.read_codes`), for office tools and tests."""
        if roster.signer is None:
            raise RosterSignatureError("this roster's signature was never checked: load it "
                                       "with firmware.people.load_roster before reading badges")
        self.roster = roster
        if read_codes is None:
            # OpenCV in this process, imported only for the callers that ask for it
            from drivers.vision.codes import read_codes as read_here
            read_codes = read_here
        self._read_codes: CodeReader = read_codes

    def read_text(self, text: str, on_date: dt.date) -> BadgeResult:
        """The result for the text of a QR code."""
        if not is_badge_text(text):
            return BadgeResult(NOT_A_BADGE, "the QR code shown is not a dualrec staff badge")
        try:
            code = parse_badge_code(text)
        except BadgeError as exc:
            return BadgeResult(NOT_A_BADGE, str(exc))
        assert self.roster.signer is not None
        if not code.verify(self.roster.signer):
            return BadgeResult(FORGED, f"badge for staff id {code.staff_id!r} refused: not "
                               "signed by the back office", code.staff_id)
        try:
            entry = self.roster.lookup(code.staff_id, on_date)
        except StaffNotOnRoster as exc:
            return BadgeResult(NOT_ON_ROSTER, str(exc), code.staff_id)
        except StaffNotValid as exc:
            return BadgeResult(NOT_VALID, str(exc), code.staff_id)
        if code.badge != entry.badge:
            return BadgeResult(SUPERSEDED, f"badge number {code.badge} of staff id "
                               f"{code.staff_id!r} is no longer valid (current badge: "
                               f"{entry.badge}); use the new badge", code.staff_id)
        return BadgeResult(OK, f"staff id {code.staff_id!r} accepted "
                           f"({entry.identity.TYPE})", code.staff_id, entry)

    def read_image(self, bgr: np.ndarray, on_date: dt.date) -> BadgeResult:
        """The result for a BGR (or grey) image; ``"no_code"`` when no QR code can be read.
        BadgeError for something that is not an image; the code reader's other driver errors
        (its worker lost or too slow) propagate unchanged."""
        try:
            codes = self._read_codes(bgr)
        except BadDriverArgument as exc:
            raise BadgeError(f"not an image: {exc}") from None
        return self._result(codes, on_date)

    def read_jpeg(self, jpeg: bytes, on_date: dt.date) -> BadgeResult:
        """The result for a JPEG image (``"no_code"`` for bytes that are no JPEG at all)."""
        try:
            codes = self._read_codes(jpeg)
        except BadDriverArgument as exc:
            return BadgeResult(NO_CODE, f"the camera still ({len(jpeg)} bytes) is not a "
                               f"readable JPEG: {exc}")
        return self._result(codes, on_date)

    def _result(self, codes: list[str], on_date: dt.date) -> BadgeResult:
        if not codes:
            return BadgeResult(NO_CODE, "no QR code could be read in the image: hold the badge "
                               "flat, closer to the camera, in good light")
        return self.read_text(next((c for c in codes if is_badge_text(c)), codes[0]), on_date)

    def read_camera(self, camera: Camera, on_date: dt.date) -> BadgeResult:
        """One look through a started camera: its small analysis frame first (cheap), then,
        if no code is found there, a full-resolution still. Driver errors (camera stopped or
        lost) are the caller's to handle and propagate unchanged."""
        latest = camera.analysis_frame()
        if latest is not None:
            result = self.read_image(latest[0], on_date)
            if result.status != NO_CODE:
                return result
        jpeg, _timestamp_ns = camera.capture_jpeg()
        return self.read_jpeg(jpeg, on_date)

    def scan(self, camera: Camera, on_date: dt.date, clock: Clock, *,
             timeout_s: float = 10.0, interval_s: float = 0.2) -> BadgeResult:
        """Look through ``camera`` every ``interval_s`` seconds (on ``clock``) until a code
        is read or ``timeout_s`` passes; the first result that is not ``"no_code"``, or the
        last ``"no_code"`` one."""
        deadline = clock.monotonic_ns() + int(timeout_s * 1e9)
        while True:
            result = self.read_camera(camera, on_date)
            now = clock.monotonic_ns()
            if result.status != NO_CODE or now >= deadline:
                return result
            clock.sleep_until_ns(min(deadline, now + int(interval_s * 1e9)))
