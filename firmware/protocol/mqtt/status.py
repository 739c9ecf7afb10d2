"""The unit's state and vital signs as the fleet sees them (the ``state`` and ``telemetry``
topics): shared by the unit's agent, which publishes them, and the operators' tools."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from firmware.protocol.mqtt import vocabulary

STATES = tuple(s for s in vocabulary.STATES if s != "offline")
"""What :meth:`DeviceHooks.current_state` may answer. ``online``: up, nothing more specific
yet (starting). ``offline`` is never reported as a state of a running unit: the broker publishes
it (Last Will), and the unit at a clean stop."""
HEALTH = vocabulary.HEALTH


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
    the cloud (``backlog_oldest_age_s`` None when there is none); ``backlog_sync``: ``"on"``,
    or ``"off"`` when the uploader is disabled (nothing gets confirmed). ``chain_seq``/
    ``chain_hash``: the ledger's head. ``camera``/``microphone``/``pad``: one of :data:`HEALTH`.
    ``flags``: words of :func:`~firmware.protocol.mqtt.vocabulary.telemetry_flags`
    (``"last-session:silent_answer"``), sorted, each once.
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
    backlog_sync: str = "on"

    def __post_init__(self) -> None:
        if self.backlog_sync not in ("on", "off"):
            raise ValueError(f"backlog_sync {self.backlog_sync!r} is not 'on' or 'off'")
        for part in ("camera", "microphone", "pad"):
            if getattr(self, part) not in HEALTH:
                raise ValueError(f"{part} health {getattr(self, part)!r} is not one of "
                                 f"{', '.join(HEALTH)}")

    def as_payload(self) -> dict[str, Any]:
        """The telemetry fields of the MQTT payload (docs/mqtt.md, ``telemetry``)."""
        return {"disk": {"free_bytes": self.disk_free_bytes, "total_bytes": self.disk_total_bytes},
                "backlog": {"count": self.backlog_count, "bytes": self.backlog_bytes,
                            "oldest_age_s": self.backlog_oldest_age_s,
                            "sync": self.backlog_sync},
                "cpu_temp_c": self.cpu_temp_c,
                "clock": {"synced": self.clock_synced, "offset_ms": self.clock_offset_ms},
                "firmware": self.firmware,
                "chain": {"seq": self.chain_seq, "hash": self.chain_hash},
                "health": {"camera": self.camera, "microphone": self.microphone,
                           "pad": self.pad},
                "flags": sorted(set(self.flags))}
