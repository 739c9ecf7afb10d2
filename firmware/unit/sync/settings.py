"""What the uploader is told: the endpoint and bucket, limits, schedule and policies.

Built by the daemon from the ``[sync]`` section of the configuration (:meth:`from_config`) or by
``dualrec sync`` from its flags. Credentials are not part of the configuration file: they come
from the standard ``AWS_*`` environment variables (or a systemd credential the daemon reads) and
may be given to the constructor; empty means boto3's standard lookup.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from firmware.errors import ConfigError
from firmware.protocol.bucket.layout import parse_s3_url
from firmware.unit.sync.retention import LocalRetention, RetentionPolicy
from firmware.unit.sync.schedule import MediaWindow

MiB = 1024 * 1024
ADDRESSING = ("auto", "path", "virtual")


@dataclass(frozen=True)
class SyncSettings:
    """Every setting of one uploader; units are in the names (``_s`` seconds, ``_mb`` MiB)."""

    bucket: str
    endpoint: str = ""                 # "" = AWS S3 itself; else http(s)://host[:port]
    prefix: str = ""                   # keys are <prefix>/<device_id>/<spool path>
    region: str = ""                   # "" = from AWS_REGION / AWS_DEFAULT_REGION / us-east-1
    addressing_style: str = "auto"     # "path" for MinIO and most private endpoints
    ca_bundle: str = ""                # PEM file of a private CA for the endpoint's TLS
    access_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    retention_years: int = 10
    retention_mode: str = "COMPLIANCE"
    keep_local_days: float = 30.0
    prune_early_when_low_disk: bool = True
    min_free_mb: int = 512             # below this, recordings are refused (low disk)
    rate_limit_kib_s: int = 0          # bandwidth cap in KiB/s; 0 = none
    media_window: str = ""             # "HH:MM-HH:MM" local time; "" = any time
    timezone: str = "Asia/Shanghai"
    interval_s: float = 60.0           # between runs of the background thread
    max_backoff_s: float = 900.0       # longest wait after failed runs
    workers: int = 4                   # objects uploaded at once
    part_size_mb: int = 8              # multipart part size (S3 minimum: 5)
    multipart_threshold_mb: int = 16   # files larger than this go up in parts
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    max_attempts: int = 5              # per request incl. the first (client, standard mode)

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ConfigError("invalid sync settings:\n  " + "\n  ".join(problems))

    def _problems(self):
        try:
            parse_s3_url(f"s3://{self.bucket}")
        except ValueError:
            yield f"sync.bucket: {self.bucket!r} is not a valid S3 bucket name"
        if self.endpoint and not self.endpoint.startswith(("http://", "https://")):
            yield f"sync.endpoint: {self.endpoint!r} must start with http:// or https://"
        if self.addressing_style not in ADDRESSING:
            yield f"sync.addressing_style: must be one of {', '.join(ADDRESSING)}"
        if bool(self.access_key) != bool(self.secret_key):
            yield "sync credentials: give both the access key and the secret key, or neither"
        checks = (("retention_years", 1, 100), ("keep_local_days", 0, 36_500),
                  ("min_free_mb", 0, 10**7), ("rate_limit_kib_s", 0, 10**8),
                  ("interval_s", 0.01, 86_400), ("max_backoff_s", 0.01, 86_400),
                  ("workers", 1, 32), ("part_size_mb", 5, 5 * 1024),
                  ("multipart_threshold_mb", 5, 5 * 1024), ("connect_timeout_s", 0.1, 600),
                  ("read_timeout_s", 0.1, 3600), ("max_attempts", 1, 20))
        for name, lo, hi in checks:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not lo <= value <= hi:
                yield f"sync.{name}: {value!r} must be a number between {lo} and {hi}"
        for build in (self.retention, self.local_retention, self.window):
            try:
                build()
            except ValueError as exc:
                yield f"sync: {exc}"

    # -- derived parts ------------------------------------------------------------------------
    def retention(self) -> RetentionPolicy:
        return RetentionPolicy(self.retention_years, self.retention_mode)

    def local_retention(self) -> LocalRetention:
        return LocalRetention(self.keep_local_days, self.prune_early_when_low_disk)

    def window(self) -> MediaWindow:
        return MediaWindow.parse(self.media_window, self.timezone)

    @property
    def part_size(self) -> int:
        return self.part_size_mb * MiB

    @property
    def multipart_threshold(self) -> int:
        return self.multipart_threshold_mb * MiB

    @property
    def min_free_bytes(self) -> int:
        return self.min_free_mb * MiB

    @property
    def rate_limit(self) -> int:
        """The cap in bytes per second (0: none)."""
        return self.rate_limit_kib_s * 1024

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_config(cls, section: Any, **overrides: Any) -> "SyncSettings":
        """From a config section (an object with these attribute names, or a mapping); keys of
        the section that are not settings (``enabled``, say) are ignored; ``overrides`` win."""
        names = {f.name for f in fields(cls)}
        if isinstance(section, Mapping):
            raw = {k: v for k, v in section.items() if k in names}
        else:
            raw = {n: getattr(section, n) for n in names if hasattr(section, n)}
        raw.update(overrides)
        if "bucket" not in raw or not raw["bucket"]:
            raise ConfigError("sync.bucket: required (the insurer's evidence bucket)")
        return cls(**raw)

    def replace(self, **changes: Any) -> "SyncSettings":
        return dataclasses.replace(self, **changes)
