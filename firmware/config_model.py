"""The configuration model: one frozen dataclass per ``[section]`` of the TOML file.

Each field's type is checked on load; ``metadata=check(fn)`` adds a check returning an error
message or None. :mod:`firmware.config` does the loading and the error reporting.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable


def _between(lo: float, hi: float) -> Callable[[Any], str | None]:
    return lambda v: None if lo <= v <= hi else f"must be between {lo} and {hi}"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def _one_of_int(*choices: int) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(map(str, choices))}"


def _matches(pattern: str, what: str) -> Callable[[Any], str | None]:
    rx = re.compile(pattern)
    return lambda v: None if rx.fullmatch(v) else f"must be {what}"


def check(fn: Callable[[Any], str | None], doc: str = "") -> dict:
    return {"check": fn, "doc": doc}


@dataclass(frozen=True)
class DeviceSection:
    id: str = field(default="", metadata=check(_matches(r"|[a-z0-9][a-z0-9-]{2,62}",
                                                        "lowercase letters, digits and '-'")))
    key_file: str = "/var/lib/dualrec/keys/device.key"
    certificate: str = ""
    fleet_ca: str = ""


@dataclass(frozen=True)
class SpoolSection:
    path: str = "/var/lib/dualrec/spool"
    checkpoint_every: int = field(default=100, metadata=check(_between(1, 100_000)))
    ledger_roll_mb: int = field(default=8, metadata=check(_between(1, 1024)))
    min_free_mb: int = field(default=512, metadata=check(_between(0, 1_000_000)))


@dataclass(frozen=True)
class DriversSection:
    backend: str = field(default="real", metadata=check(_one_of("real", "sim")))


@dataclass(frozen=True)
class RecorderSection:
    segment_seconds: float = field(default=1.0, metadata=check(_between(0.2, 10.0)))


@dataclass(frozen=True)
class LoggingSection:
    level: str = field(default="info", metadata=check(_one_of("debug", "info", "warning",
                                                             "error")))


@dataclass(frozen=True)
class CameraSection:
    width: int = field(default=1920, metadata=check(_between(64, 4096)))
    height: int = field(default=1080, metadata=check(_between(64, 4096)))
    fps: int = field(default=30, metadata=check(_between(1, 60)))
    bitrate: int = field(default=5_000_000, metadata=check(_between(100_000, 50_000_000)))


@dataclass(frozen=True)
class AudioSection:
    rate: int = field(default=48_000, metadata=check(_one_of_int(16_000, 32_000, 44_100,
                                                                  48_000)))
    channels: int = field(default=1, metadata=check(_between(1, 2)))
    block_frames: int = field(default=960, metadata=check(_between(64, 48_000)))
    microphone: str = ""           # PyAudio input device name (part); "" = default
    speaker: str = ""              # PyAudio output device name (part); "" = default


@dataclass(frozen=True)
class PanelSection:
    record_pin: int = field(default=17, metadata=check(_between(2, 27)))
    next_pin: int = field(default=27, metadata=check(_between(2, 27)))
    replay_pin: int = field(default=22, metadata=check(_between(2, 27)))
    rec_led_pin: int = field(default=23, metadata=check(_between(2, 27)))
    status_led_pin: int = field(default=24, metadata=check(_between(2, 27)))
    buzzer_pin: int = field(default=25, metadata=check(_between(-1, 27)))  # -1: no buzzer
    hold_seconds: float = field(default=2.0, metadata=check(_between(0.5, 10.0)))
    bounce_ms: int = field(default=30, metadata=check(_between(1, 500)))


@dataclass(frozen=True)
class SigpadSection:
    device: str = ""               # evdev path or a part of its name; "" = no pad
    replay_file: str = ""          # sim backend: a recorded signature to replay


@dataclass(frozen=True)
class SpeechSection:
    voice: str = "cmn"                          # the pace is the script template's
    cache_dir: str = "/var/lib/dualrec/speech"


@dataclass(frozen=True)
class SessionSection:
    template: str = "bank-life"                 # the script bound at start
    mode: str = field(default="av", metadata=check(_one_of("av", "audio_photo")))
    scripts_dir: str = ""                       # "" = the shipped config/scripts
    require_clock_sync: bool = False            # True: an unsynced clock blocks RECORD
    selftest_minutes: int = field(default=30, metadata=check(_between(1, 600)))
    selftest_every_s: int = field(default=600, metadata=check(_between(10, 86_400)))


@dataclass(frozen=True)
class MqttSection:
    url: str = ""                       # mqtts://host:8883 ("" = no fleet agent); env DUALREC_MQTT_URL wins
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    branch: str = field(default="", metadata=check(_matches(r"|[A-Za-z0-9][A-Za-z0-9_-]{0,31}",
                                                            "letters, digits, '_' or '-'")))
    keepalive_s: int = field(default=30, metadata=check(_between(5, 300)))
    telemetry_interval_s: float = field(default=60.0, metadata=check(_between(5, 3600)))
    reconnect_min_s: float = field(default=1.0, metadata=check(_between(0.1, 60)))
    reconnect_max_s: float = field(default=60.0, metadata=check(_between(1, 3600)))


@dataclass(frozen=True)
class SyncSection:
    enabled: bool = False
    endpoint: str = ""                  # "" = AWS S3
    bucket: str = ""
    prefix: str = ""
    region: str = ""
    addressing_style: str = field(default="auto", metadata=check(_one_of("auto", "path",
                                                                          "virtual")))
    ca_bundle: str = ""
    retention_years: int = field(default=10, metadata=check(_between(1, 100)))
    retention_mode: str = field(default="COMPLIANCE", metadata=check(_one_of(
        "COMPLIANCE", "GOVERNANCE", "bucket-default")))
    keep_local_days: float = field(default=30.0, metadata=check(_between(0, 3650)))
    prune_early_when_low_disk: bool = True
    rate_limit_kib_s: int = field(default=0, metadata=check(_between(0, 10_000_000)))
    media_window: str = field(default="", metadata=check(_matches(
        r"|\d\d:\d\d-\d\d:\d\d", "HH:MM-HH:MM")))
    timezone: str = "Asia/Shanghai"
    interval_s: float = field(default=60.0, metadata=check(_between(1, 86_400)))
    max_backoff_s: float = field(default=900.0, metadata=check(_between(1, 86_400)))
    workers: int = field(default=4, metadata=check(_between(1, 32)))
    part_size_mb: int = field(default=8, metadata=check(_between(5, 5120)))
    multipart_threshold_mb: int = field(default=16, metadata=check(_between(5, 5120)))
    connect_timeout_s: float = field(default=10.0, metadata=check(_between(1, 600)))
    read_timeout_s: float = field(default=60.0, metadata=check(_between(1, 3600)))
    max_attempts: int = field(default=5, metadata=check(_between(1, 20)))


@dataclass(frozen=True)
class PeopleSection:
    roster_file: str = ""               # the back office's signed staff roster ("" = none)
    backoffice_public_key: str = ""     # base64 Ed25519 public key, or a .pub file path
    badge_scan_seconds: int = field(default=10, metadata=check(_between(1, 600)))


def _code(lo: int, hi: int) -> Callable[[Any], str | None]:
    return _matches(rf"|[A-Za-z0-9]{{{lo},{hi}}}", f"{lo}-{hi} ASCII letters and digits")


@dataclass(frozen=True)
class BranchSection:
    org: str = field(default="", metadata=check(_code(2, 32)))
    channel: str = field(default="", metadata=check(_code(1, 16)))
    outlet: str = field(default="", metadata=check(_code(2, 32)))


@dataclass(frozen=True)
class EncryptionSection:
    insurer_public_key: str = ""        # PEM (X25519 or RSA): session media encrypted to it


@dataclass(frozen=True)
class ControlSection:
    socket: str = "/run/dualrec/control.sock"   # local control socket ("" = none)


@dataclass(frozen=True)
class Config:
    device: DeviceSection = DeviceSection()
    spool: SpoolSection = SpoolSection()
    drivers: DriversSection = DriversSection()
    recorder: RecorderSection = RecorderSection()
    camera: CameraSection = CameraSection()
    audio: AudioSection = AudioSection()
    panel: PanelSection = PanelSection()
    sigpad: SigpadSection = SigpadSection()
    speech: SpeechSection = SpeechSection()
    session: SessionSection = SessionSection()
    people: PeopleSection = PeopleSection()
    encryption: EncryptionSection = EncryptionSection()
    mqtt: MqttSection = MqttSection()
    sync: SyncSection = SyncSection()
    control: ControlSection = ControlSection()
    branch: BranchSection = BranchSection()
    logging: LoggingSection = LoggingSection()
    source: str = ""
