"""What the fleet agent needs from the rest of the appliance: the :class:`DeviceHooks` protocol.

The daemon implements it; the agent calls nothing else of the appliance. Calls come from the
agent's own threads (a ticker and a command worker), never from the ledger's or recorder's, so
each method may take a lock of the daemon. Methods should return promptly, except
:meth:`DeviceHooks.verify` and :meth:`DeviceHooks.sync_now`, which may take minutes (they run
on the agent's slow-command worker). A method that raises makes the command answer ``failed``
with the exception's message, and is reported to the agent's owner (``on_error``); it never
stops the agent. Nothing returned may hold personal information: every payload is checked
(:mod:`firmware.protocol.mqtt.privacy`) and refused if it does.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from firmware.protocol.mqtt.status import DeviceStatus, TelemetrySnapshot

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

    def locate(self, seconds: float) -> None:
        """Blink the LEDs (and beep) for ``seconds`` so staff can find the unit; returns at
        once."""
        ...

    def sync_now(self) -> dict[str, Any]:
        """Start (or run) an upload round now; a short summary for the response, e.g.
        ``{"queued": 12, "bytes": 73400320}``."""
        ...

    def verify(self) -> dict[str, Any]:
        """Verify the spool: ``json.loads(verify_path(spool).to_json())``."""
        ...

    def apply_config(self, desired: dict[str, Any], version: int) -> tuple[bool, str]:
        """Keep an operator's configuration changes (operational settings, already validated
        with :func:`parse_config`) for the next start. ``(True, note)`` when accepted (the note
        says when it takes effect); ``(False, why)`` when refused."""
        ...

    def apply_config_bundle(self, bundle: bytes) -> tuple[bool, str]:
        """Check a configuration bundle signed by the back office (the signed file's bytes:
        signature, scope, serial, what it changes) and keep it for the next start.
        ``(True, note)`` when accepted, ``(False, why)`` when refused."""
        ...

    def config_status(self) -> dict[str, Any]:
        """The unit's configuration as ``config/reported`` shows it: ``effective`` (what runs:
        ``sha256``, ``set_config_version``, ``bundle_serial``), ``accepted`` (what takes
        effect at the next restart), ``pending`` (they differ), ``applies`` and ``refused``
        (stored remote configuration that was refused, and why)."""
        ...

    def restart(self, force: bool) -> None:
        """Restart the dualrec service. The agent calls it only when not recording, or when
        ``force``; schedule it and return (the agent is stopped by the daemon as usual)."""
        ...

    def reboot(self, force: bool) -> None:
        """Reboot the unit; as :meth:`restart`."""
        ...

    def fetch_logs(self, lines: int) -> str:
        """The last ``lines`` lines of the service's log (the agent redacts and caps them)."""
        ...


DEVICE_HOOK_METHODS = ("current_state", "telemetry", "is_recording", "locate", "sync_now",
                       "verify", "apply_config", "apply_config_bundle", "config_status",
                       "restart", "reboot", "fetch_logs")
