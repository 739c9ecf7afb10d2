"""What the fleet agent needs from the rest of the appliance: the :class:`DeviceHooks` protocol.

The daemon implements it; the agent calls nothing else of the appliance. Calls come from the
agent's own threads (a ticker and a command worker), never from the ledger's or recorder's, so
each method may take a lock of the daemon. Methods should return promptly, except
:meth:`DeviceHooks.verify` and :meth:`DeviceHooks.sync_now`, which may take minutes (they run
on the agent's slow-command worker). A method that raises makes the command answer ``failed``
with the exception's message, and is reported to the agent's owner (``on_error``); it never
stops the agent. Nothing returned may hold personal information: every payload is checked
(:mod:`firmware.fleet.privacy`) and refused if it does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

STATES = ("online", "idle", "recording", "fault")
"""What :meth:`DeviceHooks.current_state` may answer. ``online``: up, nothing more specific
yet (starting). ``offline`` is never reported by the unit: the broker publishes it (Last Will)."""
HEALTH = ("ok", "degraded", "fault", "missing", "unknown")


@dataclass(frozen=True)
class DeviceStatus:
    """The unit's state and a short, non-personal detail (``"session 20240501T081500Z-3fa2c1"``,
    ``"camera missing"``)."""

    state: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state {self.state!r} is not one of {', '.join(STATES)}")


@dataclass(frozen=True)
class TelemetrySnapshot:
    """One reading of the unit's vital signs, for the ``telemetry`` topic.

    Sizes in bytes, ages in seconds, temperature in °C, clock offset in milliseconds (the
    kernel's estimated error of CLOCK_REALTIME). ``backlog_*``: evidence not yet confirmed in
    the cloud (``backlog_oldest_age_s`` None when there is none). ``chain_seq``/``chain_hash``:
    the ledger's head. ``camera``/``microphone``/``pad``: one of :data:`HEALTH`. ``flags``:
    short quality flags the operators should see (``"last-session:audio-clipped"``).
    """

    disk_free_bytes: int
    disk_total_bytes: int
    backlog_count: int
    backlog_bytes: int
    backlog_oldest_age_s: float | None
    cpu_temp_c: float | None
    clock_synced: bool
    clock_offset_ms: float | None
    firmware: str
    chain_seq: int
    chain_hash: str
    camera: str = "unknown"
    microphone: str = "unknown"
    pad: str = "unknown"
    flags: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for part in ("camera", "microphone", "pad"):
            if getattr(self, part) not in HEALTH:
                raise ValueError(f"{part} health {getattr(self, part)!r} is not one of "
                                 f"{', '.join(HEALTH)}")

    def as_payload(self) -> dict[str, Any]:
        """The telemetry fields of the MQTT payload (docs/mqtt.md, ``telemetry``)."""
        return {"disk": {"free_bytes": self.disk_free_bytes, "total_bytes": self.disk_total_bytes},
                "backlog": {"count": self.backlog_count, "bytes": self.backlog_bytes,
                            "oldest_age_s": self.backlog_oldest_age_s},
                "cpu_temp_c": self.cpu_temp_c,
                "clock": {"synced": self.clock_synced, "offset_ms": self.clock_offset_ms},
                "firmware": self.firmware,
                "chain": {"seq": self.chain_seq, "hash": self.chain_hash},
                "health": {"camera": self.camera, "microphone": self.microphone,
                           "pad": self.pad},
                "flags": list(self.flags)}


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
