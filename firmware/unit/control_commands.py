"""What the local control socket can ask of the unit (``dualrec status|press|bind|sim|damage``).
Each request is checked here and answered from the unit's view or done through the part that
owns it; on real hardware nobody presses buttons from a shell."""
from __future__ import annotations

import logging
from typing import Any, Callable

from firmware.evidence.recovery import acknowledge_damage
from firmware.evidence.store import Evidence
from firmware.unit.binder import Binder
from firmware.unit.control import ControlError
from firmware.unit.hardware import Hardware
from firmware.unit.session.binding import Binding
from firmware.unit.session.flow import SessionFlow
from firmware.unit.sim_controls import sim_control
from firmware.unit.status_light import StatusLight
from firmware.unit.ticket_gate import TicketGate
from firmware.unit.unit_view import UnitView

log = logging.getLogger(__name__)

BUTTONS = ("RECORD", "NEXT", "REPLAY")
COMMANDS = ("status", "bind", "press", "hold", "sim", "ack-damage")


class ControlCommands:
    def __init__(self, *, view: UnitView, flow: SessionFlow, binder: Binder,
                 tickets: TicketGate, hardware: Hardware, evidence: Evidence,
                 light: StatusLight, hold_seconds: float) -> None:
        self._view = view
        self._flow = flow
        self._binder = binder
        self._tickets = tickets
        self._hw = hardware
        self._evidence = evidence
        self._light = light
        self._hold_seconds = hold_seconds
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "status": lambda req: self._view.status(), "bind": self._bind,
            "press": self._press, "hold": self._press,
            "sim": lambda req: sim_control(self._hw, req), "ack-damage": self._ack_damage}

    def __call__(self, req: dict[str, Any]) -> dict[str, Any]:
        handler = self._handlers.get(req["cmd"])
        if handler is None:
            raise ControlError(f"unknown command {req['cmd']!r}: {', '.join(COMMANDS)}")
        return handler(req)

    def bind_ticket(self, text: str) -> Binding:
        """Bind the next session to the sale's ticket given as its QR text: ``dualrec bind
        --ticket`` and the back office's MQTT ``bind`` (the same checks as a QR at RECORD);
        :class:`ControlError` (a ValueError) with the reason."""
        if self._view.recording:
            raise ControlError("a session is recording; bind the next one after it ends")
        try:
            binding = self._tickets.bind_text(text.strip())
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        self._flow.bind(binding)
        self._flow.wait_idle(30)
        return binding

    def _bind(self, req: dict[str, Any]) -> dict[str, Any]:
        if self._view.recording:
            raise ControlError("a session is recording; bind the next one after it ends")
        ticket, raw = req.get("ticket"), req.get("people")
        if isinstance(ticket, str):
            binding = self.bind_ticket(ticket)
            return {"template": binding.template.id, "mode": binding.mode,
                    "people": binding.summary, "ticket": binding.ticket}
        if isinstance(raw, str):
            binding = self._binder.for_people(raw.encode("utf-8"),
                                              template=req.get("template"),
                                              mode=req.get("mode"))
        else:
            raise ControlError('bind: give "ticket" (the QR text) or "people" (the '
                               "people.json text), inline: the daemon opens no path a "
                               "request names")
        self._flow.bind(binding)
        self._flow.wait_idle(30)
        return {"template": binding.template.id, "mode": binding.mode,
                "people": binding.summary, "ticket": binding.ticket}

    def _press(self, req: dict[str, Any]) -> dict[str, Any]:
        button = str(req.get("button", "")).upper()
        if button not in BUTTONS:
            raise ControlError(f"button {req.get('button')!r}: one of {', '.join(BUTTONS)}")
        if not self._hw.simulated:
            raise ControlError("buttons can be pressed from the shell only on simulated "
                               "hardware (drivers.backend = \"sim\")")
        seconds = float(req.get("seconds", 0.1 if req["cmd"] == "press" else
                                self._hold_seconds + 0.5))
        if not 0 < seconds <= 30:
            raise ControlError(f"seconds={seconds}: between 0 and 30")
        self._hw.panel.press(button, seconds)
        self._flow.wait_idle(10)
        return {"state": self._flow.snapshot.state}

    def _ack_damage(self, req: dict[str, Any]) -> dict[str, Any]:
        """A person has seen the recorded damage: recording may resume. The DAMAGE records stay
        on the chain (verify reports them forever); the acknowledgement goes on it too."""
        by = str(req.get("by", "local technician"))[:64]
        acked = acknowledge_damage(self._evidence.spool)
        if acked:
            self._evidence.event("damage_acknowledged", {"damage_records": acked, "by": by})
            self._light.set_fault("evidence", None)
            log.warning("evidence damage (DAMAGE records %s) acknowledged by %s", acked, by)
        return {"acknowledged": acked}
