"""The relay's bounds: guesses per client address and per meeting (token buckets), browser
connections in all and per address, and which address a client has behind a load balancer.

These counters are the one thing a relay keeps in memory, and only as a brake: each relay
brakes what reaches it; the unit's own count of wrong tries (which locks the meeting) is the
rule that holds across every relay. Every table is bounded (least recently used dropped).
"""
from __future__ import annotations

import ipaddress
from collections import OrderedDict
from typing import Callable, Iterable

MAX_TRACKED = 10_000


class Buckets:
    """A token bucket per key: ``burst`` at once, then ``per_minute``. ``clock`` is
    monotonic seconds (injected: tests move it)."""

    def __init__(self, burst: int, per_minute: int, clock: Callable[[], float],
                 max_keys: int = MAX_TRACKED) -> None:
        self.burst, self.rate = float(burst), per_minute / 60.0
        self._clock = clock
        self._max = max_keys
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when it has none left."""
        now = self._clock()
        tokens, then = self._state.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        allowed = tokens >= 1.0
        self._state[key] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._state) > self._max:
            self._state.popitem(last=False)
        return allowed


class GuessLimiter:
    """A guess (a code or an identity) passes when both its address and its meeting have a
    token left; a refused guess still costs its address a token (a flood stays refused)."""

    def __init__(self, burst: int, per_address: int, per_meeting: int,
                 clock: Callable[[], float]) -> None:
        self.addresses = Buckets(burst, per_address, clock)
        self.meetings = Buckets(max(burst, per_meeting // 4), per_meeting, clock)

    def allow(self, address: str, meeting: str) -> bool:
        return self.addresses.allow(address) and self.meetings.allow(meeting)


class ConnectionCount:
    """Open browser connections, in all and per address."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total, self.per_address = total, per_address
        self._open: dict[str, int] = {}

    def enter(self, address: str) -> bool:
        if sum(self._open.values()) >= self.total or \
                self._open.get(address, 0) >= self.per_address:
            return False
        self._open[address] = self._open.get(address, 0) + 1
        return True

    def leave(self, address: str) -> None:
        left = self._open.get(address, 0) - 1
        if left > 0:
            self._open[address] = left
        else:
            self._open.pop(address, None)

    @property
    def open(self) -> int:
        return sum(self._open.values())


def client_address(peer: str, forwarded_for: str | None, trusted: Iterable[str]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy, then the last
    address in ``X-Forwarded-For`` that is not a trusted proxy (a client cannot forge what a
    trusted proxy appended)."""
    networks = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def is_trusted(text: str) -> bool:
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            return False
        return any(address in n for n in networks)

    if not forwarded_for or not is_trusted(peer):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")[-16:]]):
        if not is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer
