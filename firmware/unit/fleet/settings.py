"""How the unit talks to the broker: :class:`AgentSettings`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from firmware.protocol.mqtt.broker import URL_ENV, BrokerAddress, broker_url, parse_broker_url
from firmware.protocol.mqtt.errors import FleetSettingsError
from firmware.protocol.mqtt.topics import BRANCH, check_device_id

@dataclass(frozen=True)
class AgentSettings:
    """Everything the agent needs to know, as the daemon passes it from ``[mqtt]``.

    ``state_dir``: the spool's ``state/`` directory (not evidence); the agent keeps its outbox
    in ``state_dir/outbox`` and its command cache and reported configuration in
    ``state_dir/fleet``. ``keepalive_s``: MQTT keepalive in seconds; the broker declares the
    unit offline (Last Will) 1.5 × that after it falls silent. ``telemetry_interval_s``:
    seconds between telemetry messages. ``reconnect_min_s``/``reconnect_max_s``: the backoff
    between connection attempts doubles from the first to the second.
    """

    device_id: str
    state_dir: Path
    url: str = ""
    client_cert: str = ""
    client_key: str = ""
    ca_file: str = ""
    branch: str = ""
    keepalive_s: int = 30
    telemetry_interval_s: float = 60.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0

    def __post_init__(self) -> None:
        try:
            check_device_id(self.device_id)
        except ValueError as exc:
            raise FleetSettingsError(str(exc)) from None
        if self.branch and not BRANCH.fullmatch(self.branch):
            raise FleetSettingsError(f"branch {self.branch!r} must be 1-32 of A-Z a-z 0-9 _ -")
        if bool(self.client_cert) != bool(self.client_key):
            raise FleetSettingsError("give both client_cert and client_key, or neither")
        if not 1 <= self.keepalive_s <= 3600:
            raise FleetSettingsError(f"keepalive_s {self.keepalive_s} must be 1..3600 seconds")
        if not 0.05 <= self.telemetry_interval_s <= 86400:
            raise FleetSettingsError(f"telemetry_interval_s {self.telemetry_interval_s} must "
                                     "be 0.05..86400 seconds")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise FleetSettingsError("reconnect_min_s must be > 0 and <= reconnect_max_s")

    def address(self, environ: Mapping[str, str] | None = None) -> BrokerAddress:
        """The broker to use (``DUALREC_MQTT_URL`` overrides ``url``)."""
        url = broker_url(self.url, environ)
        if not url:
            raise FleetSettingsError(f"no broker: set [mqtt] url or {URL_ENV}")
        return parse_broker_url(url)

    @property
    def outbox_dir(self) -> Path:
        return Path(self.state_dir) / "outbox"

    @property
    def fleet_dir(self) -> Path:
        return Path(self.state_dir) / "fleet"
