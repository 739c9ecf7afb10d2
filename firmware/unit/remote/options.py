"""How a remote party's call is set up: ICE servers (only the configured ones), recording sizes,
how fast a drop is noticed, how often statistics are recorded."""
from __future__ import annotations

import re
from dataclasses import dataclass

from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcicetransport import parse_stun_turn_uri

from firmware.errors import DualrecError

#: a party's name in file names and records: ``remote-<party>-video-000001.h264``
PARTY_ID = re.compile(r"[a-z0-9]{1,16}")


class RemoteOptionsError(DualrecError, ValueError):
    """A remote-call option the unit cannot use; the message names it."""


@dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server, as the configuration names it (``turn:host:3478?transport=udp``,
    ``turns:host:5349``, ``stun:host:3478``). TURN takes ``username`` and ``credential`` (the
    relay's time-limited credentials). aiortc uses the first STUN and the first usable TURN
    server only, TURN over UDP or TCP, TURNS over TCP, password credentials only."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.urls, str) or not self.urls:
            raise RemoteOptionsError(f"ICE server urls={self.urls!r}: give a tuple of one or "
                                     "more stun:/turn:/turns: URLs")
        for url in self.urls:
            try:
                parsed = parse_stun_turn_uri(url)
            except ValueError as exc:
                raise RemoteOptionsError(f"ICE server URL {url!r}: {exc}") from None
            if parsed["scheme"] in ("turn", "turns") and (not self.username
                                                         or not self.credential):
                raise RemoteOptionsError(f"TURN server {url!r} needs a username and credential")


@dataclass(frozen=True)
class RemoteOptions:
    """``ice_servers``: the only ICE servers contacted (none: host candidates only; aiortc
    would add Google's STUN server if it were given no list). ``segment_seconds``: length of
    the recorded segments. ``record_max_size``: received video is re-encoded to fit this box
    (640x480 is what a Pi 4 encodes in software alongside the counter). ``record_fps`` and
    ``record_bitrate``: the re-encoder's nominal rate and bit rate. ``stall_seconds``: a
    received stream silent this long is a drop. ``stats_seconds``: how often connection
    statistics are recorded. ``max_events``: connection-state and refusal records per party.
    ``conceal_max_ms``: lost audio up to this long is filled with silence, longer is a GAP.
    ``close_timeout_s``: how long closing the connection may take."""

    ice_servers: tuple[IceServer, ...] = ()
    segment_seconds: float = 1.0
    record_max_size: tuple[int, int] = (640, 480)
    record_fps: int = 30
    record_bitrate: int = 800_000
    stall_seconds: float = 2.0
    stats_seconds: float = 10.0
    max_events: int = 64
    conceal_max_ms: int = 100
    close_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        def number(name: str, lo: float, hi: float) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not lo <= value <= hi:
                raise RemoteOptionsError(f"remote option {name}={value!r}: must be a number "
                                         f"from {lo} to {hi}")
        number("segment_seconds", 0.2, 60)
        number("stall_seconds", 0.2, 60)
        number("stats_seconds", 1, 3600)
        number("close_timeout_s", 1, 120)
        for name, lo, hi in (("record_fps", 1, 60), ("record_bitrate", 50_000, 10_000_000),
                             ("max_events", 1, 10_000), ("conceal_max_ms", 0, 1_000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise RemoteOptionsError(f"remote option {name}={value!r}: must be a whole "
                                         f"number from {lo} to {hi}")
        size = self.record_max_size
        if len(size) != 2 or not all(isinstance(v, int) and 64 <= v <= 1280 and v % 2 == 0
                                     for v in size):
            raise RemoteOptionsError(f"remote option record_max_size={size!r}: (width, height),"
                                     " even, 64..1280 pixels each")
        if not all(isinstance(s, IceServer) for s in self.ice_servers):
            raise RemoteOptionsError("remote option ice_servers: a tuple of IceServer")

    def rtc_configuration(self) -> RTCConfiguration:
        """aiortc's configuration, always with an explicit (maybe empty) server list."""
        return RTCConfiguration(iceServers=[
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in self.ice_servers])


def check_party_id(party: str) -> str:
    if not isinstance(party, str) or not PARTY_ID.fullmatch(party):
        raise RemoteOptionsError(f"remote party id {party!r}: 1 to 16 lowercase letters or "
                                 "digits (it names the party's files)")
    return party
