"""When media may be uploaded: a daily window in the branch's local time.

Manifests and the ledger go up whenever the unit is online (they are small and let the insurer
see what exists); media, which is most of the bytes, may be kept to a window such as
``"18:30-08:00"`` (after business hours, across midnight) so the branch network is not loaded.
"""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")


@dataclass(frozen=True)
class MediaWindow:
    """``start``/``end`` in minutes after local midnight; ``None`` start means always open."""

    start: int | None
    end: int | None
    tz: dt.tzinfo

    @classmethod
    def parse(cls, text: str, timezone: str = "Asia/Shanghai") -> "MediaWindow":
        """``""`` (always) or ``"HH:MM-HH:MM"`` (may wrap past midnight) in ``timezone``."""
        try:
            tz = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {timezone!r} is not a known IANA zone "
                             "(e.g. Asia/Shanghai)") from None
        text = text.strip()
        if not text:
            return cls(None, None, tz)
        m = _WINDOW.match(text)
        if not m:
            raise ValueError(f"media window {text!r}: expected HH:MM-HH:MM, e.g. 18:30-08:00, "
                             "or empty for any time")
        start = int(m.group(1)) * 60 + int(m.group(2))
        end = int(m.group(3)) * 60 + int(m.group(4))
        if start == end or end > 24 * 60:
            raise ValueError(f"media window {text!r}: start and end must differ and end must "
                             "not pass 24:00")
        return cls(start, end, tz)

    def is_open(self, wall_ns: int) -> bool:
        """Whether media may be uploaded at ``wall_ns`` (CLOCK_REALTIME ns, UTC)."""
        if self.start is None or self.end is None:
            return True
        local = dt.datetime.fromtimestamp(wall_ns / 1e9, self.tz)
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def describe(self) -> str:
        if self.start is None or self.end is None:
            return "any time"
        fmt = lambda m: f"{m // 60:02d}:{m % 60:02d}"  # noqa: E731
        return f"{fmt(self.start)}-{fmt(self.end)} {self.tz}"
