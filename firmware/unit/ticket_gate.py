"""The sale's ticket at RECORD: a session is bound to a sale by the ticket the sales system
signed, shown to the camera as a QR code (or given beforehand: ``dualrec bind --ticket``, the
back office's ``bind`` over MQTT). Pressing RECORD with no ticket bound makes the unit look for
one for ``[ticket] scan_seconds``; the session starts bound to it, or RECORD is refused with the
reason (on the panel, the chain and the screen). Without a ticket a session may start only
where the configuration allows it (``[ticket] allow_unbound``, or simulated hardware)."""
from __future__ import annotations

import datetime as dt
import logging

from drivers.camera import Camera, DiscardFrames
from drivers.clock import Clock
from firmware.evidence.store import Evidence
from firmware.ticket import TicketChecker
from firmware.ticket.reader import TicketReader
from firmware.unit.binder import TicketBinder
from firmware.unit.session.binding import Binding

log = logging.getLogger(__name__)


class TicketGate:
    """``before_start`` of the session flow: the binding to record, or (reason, detail)."""

    def __init__(self, checker: TicketChecker | None, reader: TicketReader | None,
                 binder: TicketBinder, camera: Camera, clock: Clock, evidence: Evidence, *,
                 scan_seconds: float, allow_unbound: bool) -> None:
        self.checker = checker
        self.reader = reader
        self.binder = binder
        self.camera = camera
        self.clock = clock
        self.evidence = evidence
        self.scan_seconds = scan_seconds
        self.allow_unbound = allow_unbound

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.realtime_ns() / 1e9, dt.timezone.utc)

    def bind_text(self, text: str) -> Binding:
        """A ticket given as its QR text (``dualrec bind --ticket``, MQTT ``bind``): checked,
        recorded as used, turned into a binding; :class:`ValueError` with the reason."""
        if self.checker is None:
            raise ValueError("this unit has no sales-system key ([ticket] sales_public_keys): "
                             "it cannot accept tickets")
        result = self.checker.result(text, self._now(), bind=True)
        self.evidence.event("ticket", result.summary())
        if not result.ok:
            raise ValueError(f"ticket refused ({result.status}): {result.message}")
        return self.binder.bind(result.ticket, result.signer.fingerprint)

    def __call__(self, binding: Binding) -> Binding | tuple[str, str]:
        if binding.ticket is not None:
            return binding
        if self.reader is None:
            if self.allow_unbound:
                return binding
            return ("no_ticket", "this unit has no sales-system key ([ticket] "
                    "sales_public_keys), so it cannot bind a session to a sale")
        camera_started = False
        try:
            self.camera.start(DiscardFrames())
            camera_started = True
            result = self.reader.scan(self.camera, self.clock, timeout_s=self.scan_seconds,
                                      bind=True)
        except Exception as exc:  # the camera is lost: refuse, saying so
            log.warning("looking for the ticket: %s", exc)
            return ("no_ticket", f"the camera could not look for the ticket: {exc}")
        finally:
            if camera_started:
                self.camera.stop()
        if result.status == "no_code":
            if self.allow_unbound:
                return binding
            self.evidence.event("ticket", result.summary())
            return ("no_ticket", "no ticket QR was shown: show the sale's 双录二维码 to the "
                    "camera and press RECORD again")
        self.evidence.event("ticket", result.summary())
        if not result.ok:
            return ("ticket_" + result.status, result.message)
        log.info("ticket %s bound (application %s)", result.ticket.ticket_id,
                 result.ticket.application_hash)
        return self.binder.bind(result.ticket, result.signer.fingerprint)
