"""The bandwidth cap: a token bucket shared by every upload of one uploader."""
from __future__ import annotations

import io
import threading
import time
from typing import Callable


class TokenBucket:
    """At most ``rate`` bytes per second on average, with bursts of up to ``burst`` bytes.

    :meth:`take` reserves bytes and sleeps until the reservation is covered; reservations may
    run the bucket into debt, so many threads sharing it still add up to ``rate``.
    ``rate`` 0 means no cap. ``sleep`` and ``now`` (seconds, monotonic) are for tests.
    """

    def __init__(self, rate: float, burst: float | None = None, *,
                 now: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate < 0:
            raise ValueError(f"rate {rate} bytes/s: must be 0 (no cap) or positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate / 4, 64 * 1024))
        self._now = now
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = now()

    @property
    def limited(self) -> bool:
        return self.rate > 0

    def take(self, n: int) -> float:
        """Pay for ``n`` bytes; returns the seconds slept."""
        if not self.limited or n <= 0:
            return 0.0
        with self._lock:
            now = self._now()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


class ThrottledBody(io.BytesIO):
    """An upload body that pays ``bucket`` for each byte the first time it is read.

    botocore reads a body more than once (to sign the payload over plain HTTP, again after a
    retry); each byte is paid for once, so a retry is not slowed twice.
    """

    def __init__(self, data: bytes, bucket: TokenBucket, chunk: int = 64 * 1024) -> None:
        super().__init__(data)
        self._bucket = bucket
        self._paid = 0
        self._chunk = chunk

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self._chunk:
            size = self._chunk
        start = self.tell()
        data = super().read(size)
        end = start + len(data)
        if end > self._paid:
            self._bucket.take(end - max(start, self._paid))
            self._paid = end
        return data

    def readall(self) -> bytes:  # pragma: no cover - botocore uses read(n)
        out = []
        while chunk := self.read(self._chunk):
            out.append(chunk)
        return b"".join(out)


def upload_body(data: bytes, bucket: TokenBucket) -> bytes | ThrottledBody:
    """The body to hand botocore: the bytes themselves when there is no cap (fastest)."""
    return ThrottledBody(data, bucket) if bucket.limited else data
