"""The configuration model: one frozen dataclass per ``[section]`` of the TOML file.

Each field is declared with its **remote tier** (who may change it from afar) and, where a
value can be wrong, a check returning an error message or None. :mod:`firmware.config.loading` does the
loading and the error reporting; :mod:`firmware.unit.remote_config` uses the tiers.

- ``operational`` (:func:`operational`): an operator's ``set-config`` over MQTT may change it.
  Only what keeps the unit running and talking: telemetry, reconnects, rate limits, sync
  timing, log level, self-test interval.
- ``signed`` (:func:`signed`): only a configuration bundle signed by the back office's key
  (:mod:`firmware.config.bundle`) may change it: everything that touches evidence, encryption,
  where evidence goes, what is recorded, which script is spoken or who may sell.
- ``local`` (:func:`local`): never changed remotely, not even by a signed bundle: the unit's
  identity, its spool, its control socket, its broker identity, its hardware wiring, and the
  paths of its keys and trust anchors (the back-office key that signs bundles among them).

A field declared without a tier is ``local`` (:func:`tier_of`), and a test enumerates every
field to make sure each tier was chosen on purpose.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable

OPERATIONAL = "operational"
SIGNED = "signed"
LOCAL = "local"
TIERS = (OPERATIONAL, SIGNED, LOCAL)

Check = Callable[[Any], "str | None"]

SYSTEM_DIRS = ("/", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
               "/boot", "/dev", "/proc", "/sys", "/run", "/var", "/root")
"""Directories that are never a spool; the trees of the first ones are never one either."""
SYSTEM_TREES = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot",
                "/dev", "/proc", "/sys")


def _between(lo: float, hi: float) -> Check:
    return lambda v: None if lo <= v <= hi else f"must be between {lo} and {hi}"


def _one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def _one_of_int(*choices: int) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(map(str, choices))}"


def _matches(pattern: str, what: str) -> Check:
    rx = re.compile(pattern)
    return lambda v: None if rx.fullmatch(v) else f"must be {what}"


def _spool_path(value: str) -> str | None:
    """The spool must be an absolute path that is not a system directory (nor inside one of
    the system trees): the unit creates, prunes and recovers files there."""
    if not os.path.isabs(value):
        return "must be an absolute path (the spool is where evidence is kept)"
    norm = os.path.normpath(value)
    norm = "/" + norm.lstrip("/")  # normpath keeps a leading "//"
    if norm in SYSTEM_DIRS or any(norm.startswith(tree + "/") for tree in SYSTEM_TREES):
        return (f"{value!r} is a system directory; give the unit a directory of its own "
                "(e.g. /var/lib/dualrec/spool)")
    return None


def _setting(tier: str, default: Any, check: Check | None, doc: str) -> Any:
    metadata: dict[str, Any] = {"tier": tier, "doc": doc}
    if check is not None:
        metadata["check"] = check
    return field(default=default, metadata=metadata)


def operational(default: Any, check: Check | None = None, doc: str = "") -> Any:
    """A field an operator's ``set-config`` may change."""
    return _setting(OPERATIONAL, default, check, doc)


def signed(default: Any, check: Check | None = None, doc: str = "") -> Any:
    """A field only a configuration bundle signed by the back office may change."""
    return _setting(SIGNED, default, check, doc)


def local(default: Any, check: Check | None = None, doc: str = "") -> Any:
    """A field never changed remotely."""
    return _setting(LOCAL, default, check, doc)


@dataclass(frozen=True)
class DeviceSection:
    id: str = local("", _matches(r"|[a-z0-9][a-z0-9-]{2,62}", "lowercase letters, digits and '-'"))
    key_file: str = local("/var/lib/dualrec/keys/device.key")
    certificate: str = local("")
    fleet_ca: str = local("")


@dataclass(frozen=True)
class SpoolSection:
    path: str = local("/var/lib/dualrec/spool", _spool_path)
    checkpoint_every: int = signed(100, _between(1, 100_000))
    ledger_roll_mb: int = signed(8, _between(1, 1024))
    min_free_mb: int = signed(512, _between(0, 1_000_000))


@dataclass(frozen=True)
class DriversSection:
    backend: str = local("real", _one_of("real", "sim"))


@dataclass(frozen=True)
class RecorderSection:
    segment_seconds: float = signed(1.0, _between(0.2, 10.0))


@dataclass(frozen=True)
class LoggingSection:
    level: str = operational("info", _one_of("debug", "info", "warning", "error"))


@dataclass(frozen=True)
class CameraSection:
    width: int = signed(1920, _between(64, 4096))
    height: int = signed(1080, _between(64, 4096))
    fps: int = signed(30, _between(1, 60))
    bitrate: int = signed(5_000_000, _between(100_000, 50_000_000))


@dataclass(frozen=True)
class AudioSection:
    rate: int = signed(48_000, _one_of_int(16_000, 32_000, 44_100, 48_000))
    channels: int = signed(1, _between(1, 2))
    block_frames: int = signed(960, _between(64, 48_000))
    microphone: str = signed("", doc="PyAudio input device name (part); '' = default")
    speaker: str = signed("", doc="PyAudio output device name (part); '' = default")


@dataclass(frozen=True)
class PanelSection:
    record_pin: int = local(17, _between(2, 27))
    next_pin: int = local(27, _between(2, 27))
    replay_pin: int = local(22, _between(2, 27))
    rec_led_pin: int = local(23, _between(2, 27))
    status_led_pin: int = local(24, _between(2, 27))
    buzzer_pin: int = local(25, _between(-1, 27), doc="-1: no buzzer")
    hold_seconds: float = signed(2.0, _between(0.5, 10.0))
    bounce_ms: int = signed(30, _between(1, 500))


@dataclass(frozen=True)
class SigpadSection:
    device: str = local("", doc="evdev path or a part of its name; '' = no pad")
    replay_file: str = local("", doc="sim backend: a recorded signature to replay")


@dataclass(frozen=True)
class SpeechSection:
    voice: str = signed("zf_xiaoxiao", _matches(r"[a-z]{2}_[a-z]{2,20}",
                                                "a Kokoro voice name such as zf_xiaoxiao"),
                        doc="Kokoro-82M's Chinese voice; the pace is the script template's")
    model_dir: str = local("", doc='"" = the models installed with the firmware '
                                   '(PREFIX/share/dualrec-models)')
    cache_dir: str = local("/var/lib/dualrec/speech")
    recorded_dir: str = signed("", doc="an insurer's recorded prompts: WAVs named by the "
                                       "SHA-256 of the text they say, used instead of synthesis")


@dataclass(frozen=True)
class TicketSection:
    sales_public_keys: str = local("", doc="the sales systems' Ed25519 public keys (base64 or "
                                           ".pub paths), comma-separated: trust anchors")
    used_dir: str = local("/var/lib/dualrec/tickets", doc="tickets already used (once only)")
    scan_seconds: int = signed(10, _between(1, 120), doc="RECORD looks this long for the QR")
    allow_unbound: bool = signed(False, doc="record without a ticket (simulated hardware "
                                            "always may)")


@dataclass(frozen=True)
class UnderstandingSection:
    enabled: bool = signed(True, doc="answers understood, speech checked, faces counted, "
                                     "documents read on the unit")
    forbidden_phrases: str = signed("保本,保息,稳赚,零风险,无风险,高收益,比存款利息高,到期还本",
                                    doc="misleading statements, comma-separated")
    person_missing_seconds: int = signed(5, _between(1, 600),
                                         doc="fewer people in frame than expected this long")


def _listen(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        return "must be IP:PORT, e.g. 127.0.0.1:8470"
    return None


@dataclass(frozen=True)
class DisplaySection:
    enabled: bool = signed(False, doc="the customer's screen (a local web page)")
    listen: str = local("127.0.0.1:8470", _listen, doc="loopback unless allow_non_loopback")
    allow_non_loopback: bool = local(False)
    documents: str = local("/var/lib/dualrec/documents", doc="the document library (PDFs "
                                                             "and manifest.toml)")
    max_screens: int = operational(4, _between(1, 16))


def _ice_urls(value: str) -> str | None:
    for url in (u.strip() for u in value.split(",") if u.strip()):
        if not re.fullmatch(r"(stun|stuns|turn|turns):[A-Za-z0-9.\-\[\]:]{1,200}"
                            r"(\?transport=(udp|tcp))?", url):
            return f"{url!r} is not a stun:, turn: or turns: URL"
    return None


@dataclass(frozen=True)
class MeetSection:
    enabled: bool = signed(False, doc="remote parties join by code (docs/meet.md)")
    code_minutes: int = signed(30, _between(5, 120), doc="how long the code admits parties")
    max_wrong_tries: int = signed(5, _between(1, 20), doc="wrong codes/identities that lock it")
    max_meeting_minutes: int = signed(240, _between(30, 720))
    ice_servers: str = signed("", _ice_urls, doc="the only STUN/TURN URLs the unit may use, "
                                                 "comma-separated ('' = none)")


@dataclass(frozen=True)
class SessionSection:
    template: str = signed("bank-life", doc="the script bound at start")
    mode: str = signed("av", _one_of("av", "audio_photo"))
    scripts_dir: str = signed("", doc="'' = the shipped config/scripts")
    require_clock_sync: bool = signed(False, doc="True: an unsynced clock blocks RECORD")
    selftest_minutes: int = signed(30, _between(1, 600))
    selftest_every_s: int = operational(600, _between(10, 86_400))


@dataclass(frozen=True)
class MqttSection:
    url: str = local("", doc="mqtts://host:8883 ('' = no fleet agent); env DUALREC_MQTT_URL wins")
    ca_file: str = local("")
    client_cert: str = local("")
    client_key: str = local("")
    branch: str = local("", _matches(r"|[A-Za-z0-9][A-Za-z0-9_-]{0,31}",
                                     "letters, digits, '_' or '-'"))
    keepalive_s: int = operational(30, _between(5, 300))
    telemetry_interval_s: float = operational(60.0, _between(5, 3600))
    reconnect_min_s: float = operational(1.0, _between(0.1, 60))
    reconnect_max_s: float = operational(60.0, _between(1, 3600))


@dataclass(frozen=True)
class SyncSection:
    enabled: bool = signed(False)
    endpoint: str = signed("", doc="'' = AWS S3")
    bucket: str = signed("")
    prefix: str = signed("")
    region: str = signed("")
    addressing_style: str = signed("auto", _one_of("auto", "path", "virtual"))
    ca_bundle: str = local("", doc="a trust anchor: a path on the unit")
    retention_years: int = signed(10, _between(1, 100))
    retention_mode: str = signed("COMPLIANCE", _one_of("COMPLIANCE", "GOVERNANCE",
                                                       "bucket-default"))
    keep_local_days: float = signed(30.0, _between(0, 3650))
    prune_early_when_low_disk: bool = signed(True)
    rate_limit_kib_s: int = operational(0, _between(0, 10_000_000))
    media_window: str = operational("", _matches(r"|\d\d:\d\d-\d\d:\d\d", "HH:MM-HH:MM"))
    timezone: str = operational("Asia/Shanghai")
    interval_s: float = operational(60.0, _between(1, 86_400))
    max_backoff_s: float = operational(900.0, _between(1, 86_400))
    workers: int = operational(4, _between(1, 32))
    part_size_mb: int = operational(8, _between(5, 5120))
    multipart_threshold_mb: int = operational(16, _between(5, 5120))
    connect_timeout_s: float = operational(10.0, _between(1, 600))
    read_timeout_s: float = operational(60.0, _between(1, 3600))
    max_attempts: int = operational(5, _between(1, 20))


@dataclass(frozen=True)
class PeopleSection:
    roster_file: str = signed("", doc="the back office's signed staff roster ('' = none)")
    backoffice_public_key: str = local("", doc="base64 Ed25519 public key, or a .pub file path: "
                                       "the trust anchor of rosters, badges and config bundles")
    badge_scan_seconds: int = signed(10, _between(1, 600))


def _code(lo: int, hi: int) -> Check:
    return _matches(rf"|[A-Za-z0-9]{{{lo},{hi}}}", f"{lo}-{hi} ASCII letters and digits")


@dataclass(frozen=True)
class BranchSection:
    org: str = local("", _code(2, 32))
    channel: str = local("", _code(1, 16))
    outlet: str = local("", _code(2, 32))


@dataclass(frozen=True)
class EncryptionSection:
    insurer_public_key: str = signed("", doc="PEM file (X25519 or RSA): session media "
                                     "encrypted to it; once set, never emptied remotely")


@dataclass(frozen=True)
class ControlSection:
    socket: str = local("/run/dualrec/control.sock", doc="local control socket ('' = none)")


@dataclass(frozen=True)
class Origin:
    """What an effective configuration was built from (:mod:`firmware.unit.remote_config`): the
    unit's own file (``base``, None when nothing was laid over it), the signed bundle laid
    over it (``bundle_serial``, 0: none) and the operators' set-config laid over that
    (``operational_version``, 0: none); ``refused``: remote state that was refused, and why."""

    base: "Config | None" = None
    bundle_serial: int = 0
    operational_version: int = 0
    refused: tuple[str, ...] = ()

    def describe(self, source: str) -> str:
        """``file PATH; bundle serial N; set-config version M`` for records and logs."""
        parts = [f"file {source or 'defaults'}"]
        if self.bundle_serial:
            parts.append(f"bundle serial {self.bundle_serial}")
        if self.operational_version:
            parts.append(f"set-config version {self.operational_version}")
        return "; ".join(parts)


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
    ticket: TicketSection = TicketSection()
    understanding: UnderstandingSection = UnderstandingSection()
    display: DisplaySection = DisplaySection()
    meet: MeetSection = MeetSection()
    session: SessionSection = SessionSection()
    people: PeopleSection = PeopleSection()
    encryption: EncryptionSection = EncryptionSection()
    mqtt: MqttSection = MqttSection()
    sync: SyncSection = SyncSection()
    control: ControlSection = ControlSection()
    branch: BranchSection = BranchSection()
    logging: LoggingSection = LoggingSection()
    source: str = ""
    origin: Origin = Origin()


NOT_SECTIONS = ("source", "origin")

MEET_AUDIO_RATES = (16_000, 48_000)
"""``[audio] rate`` values a meeting can send: the counter's microphone goes to remote parties
as Opus, which takes 8, 16, 24 or 48 kHz (:class:`firmware.unit.remote.CounterFeed`)."""


def related_problems(config: Config) -> list[tuple[str, str, str]]:
    """``(section, key, why)`` for settings that are valid alone but not together."""
    problems = []
    if config.meet.enabled and config.audio.rate not in MEET_AUDIO_RATES:
        problems.append(("meet", "enabled", f"[audio] rate {config.audio.rate} cannot be sent "
                         "to remote parties: the counter's sound goes to them as Opus, which "
                         "takes 8, 16, 24 or 48 kHz; set [audio] rate = 48000 (or 16000), or "
                         "leave [meet] enabled = false"))
    return problems


def section_names() -> tuple[str, ...]:
    """The ``[section]`` names of the model, in order."""
    return tuple(f.name for f in fields(Config) if f.name not in NOT_SECTIONS)


def tier_of(section: str, key: str) -> str:
    """The remote tier of ``[section] key``; ``local`` for anything not declared (an unknown
    key too: nothing is remotely settable by accident)."""
    if section not in section_names():
        return LOCAL
    for f in fields(type(getattr(Config(), section))):
        if f.name == key:
            return f.metadata.get("tier", LOCAL)
    return LOCAL


def tier_problems(changes: dict[str, Any], allowed: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """``(section, key, why)`` for each known key of ``changes`` (``{section: {key: value}}``)
    whose tier is not in ``allowed``. Unknown sections and keys are left to the model's own
    checks (:func:`firmware.config.loading.parse_config` names them)."""
    problems = []
    for section, values in changes.items():
        if section not in section_names() or not isinstance(values, dict):
            continue
        known = {f.name for f in fields(type(getattr(Config(), section)))}
        for key in sorted(k for k in values if k in known):
            tier = tier_of(section, key)
            if tier in allowed:
                continue
            if tier == SIGNED:
                why = ("signed setting: only a configuration bundle signed by the back office "
                       "may change it (apply-config-bundle), not set-config")
            elif SIGNED in allowed:
                why = "local setting: never changed remotely, not even by a signed bundle"
            else:
                why = "local setting: never changed remotely"
            problems.append((section, key, why))
    return problems
