"""The relay's configuration file (TOML): every key checked, unknown keys refused, every
problem named at once with its ``[section] key``. The TURN secret is never in it: it is read
from a file (a systemd credential, ``LoadCredential=``)."""
from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from firmware.errors import ConfigError
from firmware.protocol.mqtt.meet import ICE_URL

MAX_CONFIG_BYTES = 64 * 1024
MAX_SECRET_BYTES = 4096


@dataclass(frozen=True)
class RelayLimits:
    name: str = "relay"
    max_connections: int = 2000
    max_connections_per_address: int = 20
    max_message_bytes: int = 65536
    messages_per_second: int = 50
    idle_seconds: int = 300
    max_connection_minutes: int = 240
    join_timeout_seconds: int = 10
    guess_burst: int = 5
    guesses_per_address_per_minute: int = 10
    guesses_per_meeting_per_minute: int = 20
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class BrokerFiles:
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""


@dataclass(frozen=True)
class IceSettings:
    servers: tuple[str, ...] = ()
    turn_secret_file: str = ""
    credential_seconds: int = 3600


@dataclass(frozen=True)
class RelaySettings:
    relay: RelayLimits = field(default_factory=RelayLimits)
    broker: BrokerFiles = field(default_factory=BrokerFiles)
    ice: IceSettings = field(default_factory=IceSettings)

    def turn_secret(self) -> bytes:
        """The coturn ``static-auth-secret`` (the file's content, surrounding space removed);
        empty when no TURN server is configured."""
        path = self.ice.turn_secret_file
        if not path:
            return b""
        try:
            with open(path, "rb") as f:
                secret = f.read(MAX_SECRET_BYTES + 1).strip()
        except OSError as exc:
            raise ConfigError(f"[ice] turn_secret_file {path}: cannot read it ({exc})") from None
        if not secret or len(secret) > MAX_SECRET_BYTES:
            raise ConfigError(f"[ice] turn_secret_file {path}: empty or larger than "
                              f"{MAX_SECRET_BYTES} bytes")
        return secret


_RANGES = {"max_connections": (1, 1_000_000), "max_connections_per_address": (1, 10_000),
           "max_message_bytes": (1024, 1 << 20), "messages_per_second": (1, 10_000),
           "idle_seconds": (5, 86_400), "max_connection_minutes": (1, 1440),
           "join_timeout_seconds": (1, 120), "guess_burst": (1, 1000),
           "guesses_per_address_per_minute": (1, 10_000),
           "guesses_per_meeting_per_minute": (1, 10_000), "credential_seconds": (60, 86_400)}
_SECTIONS = {"relay": RelayLimits, "broker": BrokerFiles, "ice": IceSettings}


def _value(section: str, key: str, value: Any, default: Any, problems: list[str]) -> Any:
    where = f"[{section}] {key}"
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) \
                or len(value) > 64:
            problems.append(f"{where}: must be a list of at most 64 strings")
            return default
        value = tuple(value)
        for item in value:
            if key == "servers" and not ICE_URL.fullmatch(item):
                problems.append(f"{where}: {item!r} is not a stun:, turn: or turns: URL")
            if key == "trusted_proxies":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    problems.append(f"{where}: {item!r} is not an address or network")
        return value
    kind = type(default)
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        problems.append(f"{where}: must be {kind.__name__}")
        return default
    lo_hi = _RANGES.get(key)
    if lo_hi and not lo_hi[0] <= value <= lo_hi[1]:
        problems.append(f"{where}: must be between {lo_hi[0]} and {lo_hi[1]}")
    return value


def parse_settings(data: dict[str, Any], source: str = "<config>") -> RelaySettings:
    problems: list[str] = []
    built: dict[str, Any] = {}
    for section, raw in data.items():
        cls = _SECTIONS.get(section)
        if cls is None or not isinstance(raw, dict):
            problems.append(f"[{section}]: unknown section (known: {', '.join(_SECTIONS)})"
                            if cls is None else f"[{section}]: must be a table")
            continue
        defaults = {f.name: f.default for f in fields(cls)}
        values = {}
        for key, value in raw.items():
            if key not in defaults:
                problems.append(f"[{section}] {key}: unknown key (known: {', '.join(defaults)})")
                continue
            values[key] = _value(section, key, value, defaults[key], problems)
        built[section] = cls(**values)
    settings = RelaySettings(**built)
    turn = [u for u in settings.ice.servers if u.startswith("turn")]
    if turn and not settings.ice.turn_secret_file:
        problems.append("[ice] turn_secret_file: required when servers names a TURN server")
    if problems:
        raise ConfigError(f"{source}: invalid relay configuration:\n  " + "\n  ".join(problems))
    return settings


def load_settings(path: str | Path | None) -> RelaySettings:
    """The relay's settings from ``path`` (None: the defaults: no ICE server at all)."""
    if path is None:
        return RelaySettings()
    path = Path(path)
    try:
        raw = path.read_bytes()
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the relay configuration ({exc})") from None
    return parse_settings(data, str(path))
