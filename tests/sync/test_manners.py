"""Manners on the branch network: media only in its time window, a bandwidth cap."""
from __future__ import annotations

import datetime as dt
import time
import zoneinfo

from drivers.clock import SimClock
from firmware.unit.sync.uploader import Uploader

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def _at(hour: int) -> int:
    day = dt.datetime.now(SHANGHAI).date()
    return int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).timestamp()
               * 1e9)


def test_media_waits_for_its_window_the_ledger_does_not(spool, proxy, make_settings, kit):
    clock = SimClock(realtime=False, start_wall_ns=_at(10))   # 10:00, business hours
    settings = make_settings(proxy.url, media_window="18:00-08:00", timezone="Asia/Shanghai")
    with Uploader(spool.root, settings, clock=clock) as up:
        result = up.run_once()
        assert result.deferred == len(kit.sealed_files(spool.root))
        assert not result.complete and result.backlog.items == result.deferred
        uploaded = [r.target for r in proxy.requests("PUT")]
        assert uploaded and all("/sessions/" not in t for t in uploaded)
        clock.advance(9 * 3600)                                 # 19:00
        assert up.run_once().complete
    assert any("/sessions/" in r.target for r in proxy.requests("PUT"))


def test_the_once_off_sync_ignores_the_window(spool, make_settings):
    clock = SimClock(realtime=False, start_wall_ns=_at(10))
    settings = make_settings(media_window="18:00-08:00")
    with Uploader(spool.root, settings, clock=clock) as up:
        assert up.run_once(ignore_window=True).complete


def test_bandwidth_cap_holds_the_rate(spool, open_evidence, make_settings, clock, kit):
    kit.record_session(open_evidence, segments=1, big=1024 * 1024)
    settings = make_settings(rate_limit_kib_s=512)
    with Uploader(spool.root, settings, clock=clock) as up:
        start = time.monotonic()
        result = up.run_once()
        elapsed = time.monotonic() - start
    assert result.complete
    burst = 128 * 1024
    assert elapsed >= (result.bytes_uploaded - burst) / (512 * 1024) * 0.95
