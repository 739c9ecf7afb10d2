"""What aiortc's receiver knows about a remote stream's timing but does not publish.

Two facts are kept for the record (docs/evidence-format.md, remote streams):

- the RTP timestamp of each decoded frame. aiortc hands frames on with ``pts`` counted from the
  stream's first frame (its receiver's ``TimestampMapper`` subtracts an origin and unwraps);
  the wire's 32-bit timestamp is ``(pts + origin) mod 2**32``, and the origin is read from
  that mapper;
- the RTCP sender reports of the remote sender (its NTP wall time paired with an RTP
  timestamp, packet and octet counts), which aiortc only folds into ``getStats`` without the
  RTP timestamp: the receiver's ``_handle_rtcp_packet`` is wrapped on the instance to see them.

Both reach into aiortc 1.16's internals (pinned in requirements.lock). :func:`attach` checks
that they are what this module expects and raises :class:`RtpTimingError` otherwise, so an
upgrade that changes them fails the tests instead of recording wrong times.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import aiortc
from aiortc import RTCRtpReceiver
from aiortc.rtcrtpreceiver import TimestampMapper
from aiortc.rtp import RtcpSrPacket

from drivers.clock import Clock
from firmware.errors import DualrecError

_MAPPER = "_RTCRtpReceiver__timestamp_mapper"


class RtpTimingError(DualrecError, RuntimeError):
    """aiortc's receiver is not shaped as this module expects (another aiortc version)."""


@dataclass(frozen=True)
class SenderReport:
    """One RTCP sender report: at ``ntp`` (64-bit NTP time of the sender's wall clock) the
    sender's RTP clock read ``rtp``; it had sent ``packets`` packets and ``octets`` payload
    bytes. ``arrival_ns`` is CLOCK_MONOTONIC on the unit when the report arrived."""

    arrival_ns: int
    ssrc: int
    ntp: int
    rtp: int
    packets: int
    octets: int

    def line(self) -> bytes:
        return b"S %d %d %d %d %d %d\n" % (self.arrival_ns, self.ssrc, self.ntp, self.rtp,
                                           self.packets, self.octets)


class ReceiverTiming:
    """The timing of one :class:`RTCRtpReceiver`; use :func:`attach`. Runs on the loop thread."""

    def __init__(self, receiver: RTCRtpReceiver, mapper: TimestampMapper) -> None:
        self._receiver = receiver
        self._mapper = mapper
        self.reports = 0

    def rtp_timestamp(self, pts: int | None) -> int | None:
        """The wire's RTP timestamp of a decoded frame with this ``pts``; None if unknown."""
        origin = getattr(self._mapper, "_origin", None)
        if pts is None or not isinstance(origin, int):
            return None
        return (pts + origin) & 0xFFFFFFFF


def attach(receiver: RTCRtpReceiver, clock: Clock,
           on_report: Callable[[SenderReport], None]) -> ReceiverTiming:
    """Watch ``receiver``: ``on_report`` sees every sender report (on the loop thread, before
    aiortc handles it; it must not raise)."""
    mapper = getattr(receiver, _MAPPER, None)
    original = getattr(receiver, "_handle_rtcp_packet", None)
    if not isinstance(mapper, TimestampMapper) or not hasattr(mapper, "_origin") \
            or original is None:
        raise RtpTimingError(
            f"aiortc {getattr(aiortc, '__version__', '?')}: RTCRtpReceiver has no timestamp "
            "mapper or RTCP handler where 1.16 has them; install the pinned aiortc==1.16.0 "
            "(requirements.lock) or adapt firmware/unit/remote/rtp_timing.py")
    timing = ReceiverTiming(receiver, mapper)

    async def handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            info = packet.sender_info
            timing.reports += 1
            on_report(SenderReport(clock.monotonic_ns(), packet.ssrc, info.ntp_timestamp,
                                   info.rtp_timestamp, info.packet_count, info.octet_count))
        await original(packet)

    receiver._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]
    return timing
