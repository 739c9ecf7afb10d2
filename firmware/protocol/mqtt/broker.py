"""Where the broker is: ``mqtts://host:8883`` URLs, for the unit and the operators' tools."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

from firmware.protocol.mqtt.errors import FleetSettingsError

URL_ENV = "DUALREC_MQTT_URL"
SCHEMES = {"mqtts": 8883, "mqtt": 1883}


@dataclass(frozen=True)
class BrokerAddress:
    """A parsed ``mqtts://host:8883`` (TLS) or ``mqtt://host:1883`` (plain, development)."""

    host: str
    port: int
    tls: bool

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse a broker URL; :class:`FleetSettingsError` says what is wrong with it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FleetSettingsError(f"broker URL {url!r}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise FleetSettingsError(f"broker URL {url!r}: the scheme must be mqtts:// (TLS) or "
                                 "mqtt:// (development only)")
    if not parts.hostname:
        raise FleetSettingsError(f"broker URL {url!r} names no host")
    if parts.username or parts.password:
        raise FleetSettingsError(f"broker URL {url!r}: no user or password in the URL; a unit "
                                 "authenticates with its client certificate")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise FleetSettingsError(f"broker URL {url!r}: only scheme://host:port is allowed")
    return BrokerAddress(parts.hostname, port or SCHEMES[parts.scheme], parts.scheme == "mqtts")


def broker_url(configured: str, environ: Mapping[str, str] | None = None) -> str:
    """The broker URL in effect: ``DUALREC_MQTT_URL`` when set (development, test benches),
    else the configured one; "" when neither is set (the agent then does not run)."""
    environ = os.environ if environ is None else environ
    return environ.get(URL_ENV, "").strip() or configured.strip()
