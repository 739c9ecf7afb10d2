"""What the fleet agent needs from the rest of the appliance: the :class:`DeviceHooks` protocol.

The daemon implements it; the agent calls nothing else of the appliance. Calls come from the
agent's own threads (a ticker and a command worker), never from the ledger's or recorder's, so
each method may take a lock of the daemon. Methods should return promptly, except
:meth:`DeviceHooks.verify` and :meth:`DeviceHooks.sync_now`, which may take minutes (they run
on the agent's slow-command worker). A method that raises makes the command answer ``failed``
with the exception's message, and is reported to the agent's owner (``on_error``); it never
stops the agent. Nothing returned may hold personal information: every payload is checked
(:mod:`firmware.protocol.mqtt.privacy`) and refused if it does.

One method is optional (hooks without it answer ``bind`` with ``rejected``):
``bind_ticket(text) -> dict``: bind the next session to the sale's ticket given as its QR
text, checked as at the counter; the result ``{template, mode, ticket_id, application_hash}``
(no personal data); :class:`ValueError` with the refusal reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from firmware.protocol.mqtt.status import DeviceStatus, TelemetrySnapshot


@dataclass(frozen=True)
class ConfigAnswer:
    """The unit's answer to an operator's operational settings: accepted or not (``note`` says
    why not, or when it takes effect), which settings changed at once and which wait for the
    next restart (``section.key``)."""

    ok: bool
    note: str = ""
    applied_now: tuple[str, ...] = ()
    at_restart: tuple[str, ...] = ()

    def __iter__(self):
        """Unpacks as ``(ok, note)``, like :meth:`DeviceHooks.apply_config_bundle`'s answer."""
        return iter((self.ok, self.note))


@dataclass(frozen=True)
class LogExcerpt:
    """Log lines for ``fetch-logs``: the text (oldest first), where it came from (``journal``
    or ``process``), and what it cannot show (``note``)."""

    text: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class Availability:
    """Whether a restart or reboot can run on this unit, and why not."""

    available: bool
    why: str = ""

    def as_payload(self) -> dict[str, Any]:
        return {"available": self.available, "why": self.why}


@dataclass(frozen=True)
class UnitAbilities:
    """What the unit can do, for ``capabilities`` and to refuse what it cannot."""

    firmware: str
    simulated: bool
    restart: Availability
    reboot: Availability
    journal: bool
    live_settings: tuple[str, ...] = field(default_factory=tuple)


@runtime_checkable
class DeviceHooks(Protocol):
    """The appliance as the fleet agent sees it. Implemented by the daemon."""

    def current_state(self) -> DeviceStatus:
        """The unit's state now (cheap: polled about once a second)."""
        ...

    def telemetry(self) -> TelemetrySnapshot:
        """A fresh telemetry reading (every ``telemetry_interval_s`` and for ``status``)."""
        ...

    def is_recording(self) -> bool:
        """True while a session is being recorded (restart and reboot wait for its end)."""
        ...

    def abilities(self) -> UnitAbilities:
        """What this unit can do (cheap): whether restart and reboot can run here, whether
        its logs come from the journal."""
        ...

    def locate(self, seconds: float) -> None:
        """Blink the LEDs (and beep) for ``seconds`` so staff can find the unit; returns at
        once."""
        ...

    def sync_now(self) -> dict[str, Any]:
        """Start an upload round now: ``{"sync": "started" | "disabled", "backlog":
        {count, bytes, oldest_age_s, sync} | None}``."""
        ...

    def verify(self) -> dict[str, Any]:
        """Verify the spool: ``json.loads(verify_path(spool).to_json())``."""
        ...

    def apply_config(self, desired: dict[str, Any], version: int) -> ConfigAnswer:
        """Take the whole operational layer ``desired`` (operators' settings, already merged
        and validated with :func:`parse_config`) as version ``version``: kept for the next
        start, the settings that can change at once changed now."""
        ...

    def apply_config_bundle(self, bundle: bytes) -> tuple[bool, str]:
        """Check a configuration bundle signed by the back office (the signed file's bytes:
        signature, scope, serial, what it changes) and keep it for the next start.
        ``(True, note)`` when accepted, ``(False, why)`` when refused."""
        ...

    def config_status(self) -> dict[str, Any]:
        """The unit's configuration as ``config/reported`` shows it: ``effective`` (what runs:
        ``sha256``, ``set_config_version``, ``bundle_serial``), ``accepted`` (what runs after
        the next restart), ``pending`` (they differ), ``pending_keys``, ``applies`` and
        ``refused`` (stored remote configuration that was refused, and why)."""
        ...

    def restart(self, force: bool) -> None:
        """Restart the dualrec service. The agent calls it only when :meth:`abilities` says it
        is available, and when not recording or ``force``; schedule it and return."""
        ...

    def reboot(self, force: bool) -> None:
        """Reboot the unit; as :meth:`restart`."""
        ...

    def fetch_logs(self, lines: int, run: str) -> LogExcerpt:
        """The last ``lines`` lines of the ``current`` run of the service, or of the
        ``previous`` one (the agent redacts and caps them)."""
        ...


DEVICE_HOOK_METHODS = ("current_state", "telemetry", "is_recording", "abilities", "locate",
                       "sync_now", "verify", "apply_config", "apply_config_bundle",
                       "config_status", "restart", "reboot", "fetch_logs")
