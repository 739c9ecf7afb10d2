"""The small parts of sync on their own: keys, settings, retention, schedule, the token
bucket, tail ranges, part sizes, errors."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.errors import ConfigError, DualrecError
from firmware.protocol.bucket import errors, layout
from firmware.unit.sync.retention import LocalRetention, RetentionPolicy, add_years
from firmware.unit.sync.schedule import MediaWindow
from firmware.unit.sync.settings import SyncSettings
from firmware.protocol.bucket.tails import join_ranges
from firmware.unit.sync.throttle import ThrottledBody, TokenBucket
from firmware.unit.sync.transfer import MAX_PARTS, part_size_for

MiB = 1024 * 1024


def test_keys_mirror_the_spool():
    root = layout.device_root("/insurer/branch-7/", "dr-0123456789ab")
    assert root == "insurer/branch-7/dr-0123456789ab"
    assert layout.device_root("", "dr-x") == "dr-x"
    assert layout.object_key(root, "sessions/s/a.wav") == f"{root}/sessions/s/a.wav"
    rel = layout.tail_rel("000000000029.ledger", 0, 502)
    assert rel == "ledger-tail/000000000029.ledger/000000000000-000000000502"
    assert layout.parse_tail_rel(rel) == ("000000000029.ledger", 0, 502)
    assert layout.parse_tail_rel("ledger/000000000029.ledger") is None
    assert layout.parse_s3_url("s3://evidence-bucket/a/b/") == ("evidence-bucket", "a/b")
    for bad in ("http://x/y", "s3://UPPER/x", "s3://"):
        with pytest.raises(ValueError):
            layout.parse_s3_url(bad)


def test_settings_name_every_bad_key_at_once():
    with pytest.raises(ConfigError) as info:
        SyncSettings(bucket="Bad_Bucket", endpoint="ftp://x", part_size_mb=1, workers=0,
                     media_window="25:00-26:00", retention_mode="FOREVER", access_key="a")
    text = str(info.value)
    for name in ("sync.bucket", "sync.endpoint", "sync.part_size_mb", "sync.workers",
                 "media window", "retention mode", "credentials"):
        assert name in text
    assert isinstance(info.value, ValueError)


def test_settings_from_a_config_section():
    class Section:
        enabled = True          # not a setting: ignored
        bucket = "evidence"
        rate_limit_kib_s = 256
    s = SyncSettings.from_config(Section(), prefix="p")
    assert (s.bucket, s.rate_limit, s.prefix) == ("evidence", 256 * 1024, "p")
    assert SyncSettings.from_config({"bucket": "evidence", "enabled": False}).workers == 4
    with pytest.raises(ConfigError, match="sync.bucket"):
        SyncSettings.from_config({"enabled": True})
    assert "secret" not in repr(SyncSettings(bucket="evidence", access_key="a",
                                             secret_key="secret"))


def test_retention_dates():
    leap = dt.datetime(2024, 2, 29, 12, tzinfo=dt.timezone.utc)
    assert add_years(leap, 10) == dt.datetime(2034, 2, 28, 12, tzinfo=dt.timezone.utc)
    policy = RetentionPolicy()
    args = policy.lock_args(int(leap.timestamp() * 1e9))
    assert args == {"ObjectLockMode": "COMPLIANCE",
                    "ObjectLockRetainUntilDate": dt.datetime(2034, 2, 28, 12,
                                                             tzinfo=dt.timezone.utc)}
    assert RetentionPolicy(5, "bucket-default").lock_args(0) == {}
    with pytest.raises(ValueError):
        RetentionPolicy(0)
    day = 86_400 * 10**9
    keep = LocalRetention(keep_days=7)
    assert not keep.may_prune(0, 6 * day, disk_low=False)
    assert keep.may_prune(0, 7 * day, disk_low=False)
    assert keep.may_prune(0, 1, disk_low=True)
    assert not LocalRetention(7, prune_early_when_low_disk=False).may_prune(0, 1, True)


@pytest.mark.parametrize("text, open_at, closed_at", [
    ("18:30-08:00", ["18:30", "23:59", "00:00", "07:59"], ["08:00", "12:00", "18:29"]),
    ("12:00-13:00", ["12:00", "12:59"], ["11:59", "13:00", "00:00"]),
    ("", ["00:00", "12:00", "23:59"], []),
])
def test_media_window(text, open_at, closed_at):
    window = MediaWindow.parse(text, "Asia/Shanghai")
    tz = window.tz

    def ns(hhmm: str) -> int:
        h, m = map(int, hhmm.split(":"))
        return int(dt.datetime(2026, 3, 2, h, m, tzinfo=tz).timestamp() * 1e9)
    assert all(window.is_open(ns(t)) for t in open_at)
    assert not any(window.is_open(ns(t)) for t in closed_at)
    for bad in ("18:00", "08:00-08:00", "7:00-8:00"):
        with pytest.raises(ValueError):
            MediaWindow.parse(bad)
    with pytest.raises(ValueError, match="timezone"):
        MediaWindow.parse("", "Mars/Olympus")


def test_token_bucket_rate_and_debt():
    now = [0.0]
    slept = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s
    bucket = TokenBucket(1000, burst=500, now=lambda: now[0], sleep=sleep)
    bucket.take(500)                    # the burst is free
    assert slept == []
    bucket.take(1000)                   # then 1000 bytes cost a second
    assert slept == [pytest.approx(1.0)]
    now[0] += 0.25                      # 250 tokens come back
    bucket.take(250)
    assert len(slept) == 1
    assert TokenBucket(0).take(10**9) == 0.0


def test_a_body_is_paid_for_once():
    taken = []

    class Counting(TokenBucket):
        def take(self, n: int) -> float:
            taken.append(n)
            return 0.0
    body = ThrottledBody(bytes(200_000), Counting(1))
    while body.read(8192):
        pass
    body.seek(0)                        # botocore reads again to send, or on a retry
    while body.read():
        pass
    assert sum(taken) == 200_000


@given(st.binary(min_size=1, max_size=300), st.lists(st.integers(0, 300), max_size=8),
       st.booleans())
def test_tail_ranges_join_back(data, cuts, repeat):
    bounds = sorted({0, len(data), *[c for c in cuts if c < len(data)]})
    ranges = [(a, b, data[a:b]) for a, b in zip(bounds, bounds[1:])]
    if repeat:  # a lost state DB re-sends from 0: overlapping, agreeing ranges
        ranges.append((0, len(data), data))
    joined, problems = join_ranges(ranges)
    assert joined == data and problems == []


def test_tail_range_problems():
    _, problems = join_ranges([(0, 3, b"abc"), (5, 6, b"f")])
    assert "hole" in problems[0]
    _, problems = join_ranges([(0, 3, b"abc"), (0, 4, b"abXd")])
    assert "disagrees" in problems[0]
    _, problems = join_ranges([(0, 3, b"ab")])
    assert "holds 2 bytes" in problems[0]


def test_part_sizes():
    assert part_size_for(100 * MiB, 8 * MiB) == 8 * MiB
    big = 200 * 1024 * MiB
    size = part_size_for(big, 8 * MiB)
    assert size % MiB == 0 and -(-big // size) <= MAX_PARTS


def test_errors_root_in_dualrec_and_a_builtin():
    pairs = [(errors.ObjectConflictError("k", "a", "b"), FileExistsError),
             (errors.EndpointUnavailableError("x"), ConnectionError),
             (errors.BucketRefusedError("x"), PermissionError),
             (errors.LocalFileMismatchError("x"), ValueError),
             (errors.ObjectRejectedError("x"), ValueError),
             (errors.LocalFileLostError("x"), FileNotFoundError)]
    for exc, builtin in pairs:
        assert isinstance(exc, DualrecError) and isinstance(exc, builtin)
    conflict = pairs[0][0]
    assert "not overwritten" in str(conflict) and conflict.key == "k"
