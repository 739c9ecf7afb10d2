"""A bound on what one connection's SCTP association holds of what the party sent, on the
party's loop.

aiortc keeps every DATA chunk it receives in its stream's reassembly list until the message it
belongs to is whole (and, on an ordered stream, until every earlier message is), and never
holds the sender to the window it advertises: a party's hostile page (or a hostile SCTP peer)
that sends fragments without an end, or messages behind a gap that is never filled, makes the
unit hold as much as it sends. :class:`SctpGuard` wraps the receive path of *one*
:class:`~aiortc.RTCSctpTransport` (the instance's own attributes; aiortc itself is not
patched) and, before a chunk is kept, checks what keeping it would mean:

- ``sctp_oversize``: the message it belongs to (its fragments held so far, with it) would be
  over :data:`MAX_MESSAGE_BYTES` (twice the screen channel's 64 KiB: a message a little over
  64 KiB still reaches the screen channel and is refused there, ``too_large``, with the call
  kept; one twice that size is no page's mistake);
- ``sctp_backlog``: the bytes held for reassembly on all streams would be over
  :data:`MAX_HELD_BYTES`, or the chunks held plus the out-of-order TSNs aiortc remembers for
  its SACKs over :data:`MAX_HELD_CHUNKS` (each costs a Python object whatever its size, and
  aiortc's reassembly walks its list once per chunk);
- ``sctp_stream``: a DATA or FORWARD-TSN chunk for a stream the unit has no channel on (aiortc
  would keep a reassembly list per stream id, and a channel object per DCEP open: up to 65,535).

The first one found aborts the association (an SCTP ABORT to the party, aiortc's
``RTCSctpTransport.stop()``: the data channels close), drops what was held, and tells the owner
once (:class:`SctpAbort`, on the loop, before the channels close); every chunk after it is
dropped unread. The owner decides what becomes of the connection (the unit closes it:
:mod:`~firmware.unit.remote.peer`).

**The window.** The guard also lowers the receive window the association advertises from
aiortc's 1 MiB to :data:`WINDOW_BYTES` (256 KiB; it must be installed before the association
starts, i.e. before DTLS connects). A sender that keeps to the window (RFC 9260 §6.1; Chrome's
and Firefox's SCTP do) never has more than that outstanding, so :data:`MAX_HELD_BYTES` (the
window plus 4 KiB, two packets: aiortc reads a DTLS record of at most 1,500 bytes) is never
reached by a compliant peer, whatever it loses and retransmits. 256 KiB is four 64 KiB
messages: the screen channel's inbound traffic is page turns, "shown", "read" (tens of bytes,
at most 20 a second taken by the session) and one finger signature (at most 64 KiB), so the
window is never what limits it (256 KiB per 300 ms round trip is over 800 KB/s), and a
unit with a few parties holds at most about 270 KiB for each.

**aiortc internals relied on** (aiortc 1.16.0, ``aiortc/rtcsctptransport.py``; checked by
:func:`check_transport`, which raises :class:`SctpGuardError` naming what moved, and by
``tests/remote/test_sctp_guard.py``):

- ``RTCSctpTransport._receive_data_chunk(chunk)`` and ``._receive_forward_tsn_chunk(chunk)``:
  coroutines called by ``_receive_chunk`` through ``self`` (so an instance attribute replaces
  them for that instance);
- ``RTCSctpTransport._inbound_streams``: dict stream id -> ``InboundStream``, whose
  ``reassembly`` is the list of held ``DataChunk`` (``tsn``, ``stream_id``, ``flags``,
  ``user_data``; flags ``SCTP_DATA_FIRST_FRAG`` 0x02, ``SCTP_DATA_LAST_FRAG`` 0x01);
- ``RTCSctpTransport._sack_misordered`` (set of TSNs received past a gap) and
  ``_last_received_tsn`` (the cumulative TSN): a chunk is a duplicate, and kept nowhere, when
  ``uint32_gte(_last_received_tsn, tsn)`` or its TSN is in ``_sack_misordered``, as in
  ``_mark_received``;
- ``RTCSctpTransport._advertised_rwnd`` (int, bytes; sent in INIT/INIT-ACK, then lowered by
  held bytes in each SACK) and ``_association_state`` (``State.CLOSED`` until it starts);
- ``ForwardTsnChunk.streams``: list of (stream id, stream sequence).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from aiortc import RTCSctpTransport
from aiortc import rtcsctptransport as sctp_module
from aiortc.rtcsctptransport import DataChunk, ForwardTsnChunk, InboundStream
from aiortc.utils import uint32_gte

from drivers.clock import Clock
from firmware.errors import DualrecError

WINDOW_BYTES = 256 * 1024
MAX_HELD_BYTES = WINDOW_BYTES + 4 * 1024
MAX_MESSAGE_BYTES = 128 * 1024
MAX_HELD_CHUNKS = 1024
REASONS = ("sctp_oversize", "sctp_backlog", "sctp_stream")

_FIRST = 0x02
_LAST = 0x01
_TSN_MODULO = 2 ** 32


class SctpGuardError(DualrecError, RuntimeError):
    """aiortc's SCTP transport is not shaped as the guard relies on (an aiortc upgrade), or
    the guard came too late (the association had started)."""


@dataclass(frozen=True)
class SctpAbort:
    """Why and when a guard aborted its association. ``reason``: one of :data:`REASONS`;
    ``detail``: the figures, for people; ``held_bytes`` / ``held_chunks``: what aiortc held
    for reassembly at that moment (bytes of user data; chunks plus out-of-order TSNs), the
    refused chunk not included; ``at_ns``: CLOCK_MONOTONIC of the abort, on ``clock``."""

    reason: str
    detail: str
    held_bytes: int
    held_chunks: int
    at_ns: int

    def __str__(self) -> str:
        return (f"{self.reason}: {self.detail}; {self.held_bytes} bytes in "
                f"{self.held_chunks} chunks held")


def check_transport(transport: Any) -> None:
    """SctpGuardError unless ``transport`` has the aiortc internals the guard relies on (see
    the module's docstring), and its association has not started."""
    problems = []
    for name in ("_receive_data_chunk", "_receive_forward_tsn_chunk"):
        method = getattr(type(transport), name, None)
        if not inspect.iscoroutinefunction(method) \
                or list(inspect.signature(method).parameters) != ["self", "chunk"]:
            problems.append(f"RTCSctpTransport.{name}(self, chunk) is not a coroutine method")
    if not inspect.isclass(DataChunk) or not inspect.isclass(InboundStream):
        problems.append("aiortc.rtcsctptransport.DataChunk / InboundStream are gone")
    elif not isinstance(getattr(InboundStream(), "reassembly", None), list):
        problems.append("InboundStream().reassembly is not a list")
    chunk = DataChunk()
    for attr in ("tsn", "stream_id", "flags", "user_data"):
        if not hasattr(chunk, attr):
            problems.append(f"DataChunk has no {attr!r}")
    if not hasattr(ForwardTsnChunk(), "streams"):
        problems.append("ForwardTsnChunk has no 'streams'")
    if getattr(sctp_module, "SCTP_DATA_FIRST_FRAG", None) != _FIRST \
            or getattr(sctp_module, "SCTP_DATA_LAST_FRAG", None) != _LAST:
        problems.append("SCTP_DATA_FIRST_FRAG / SCTP_DATA_LAST_FRAG changed")
    for attr, kind in (("_inbound_streams", dict), ("_sack_misordered", set),
                       ("_advertised_rwnd", int)):
        if not isinstance(getattr(transport, attr, None), kind):
            problems.append(f"RTCSctpTransport.{attr} is not a {kind.__name__}")
    if not hasattr(transport, "_last_received_tsn"):
        problems.append("RTCSctpTransport._last_received_tsn is gone")
    state = getattr(transport, "_association_state", None)
    closed = getattr(getattr(RTCSctpTransport, "State", None), "CLOSED", None)
    if closed is None or state is None:
        problems.append("RTCSctpTransport._association_state / State.CLOSED are gone")
    elif state != closed:
        problems.append(f"the association has started already ({state}): install the guard "
                        "before the connection's DTLS connects")
    if problems:
        raise SctpGuardError("aiortc's SCTP transport is not what "
                             "firmware/unit/remote/sctp_guard.py was written for (aiortc "
                             "1.16.0): " + "; ".join(problems))


class SctpGuard:
    """Bounds what ``transport`` (an RTCSctpTransport not started yet) holds of the party's
    data; ``streams``: the stream ids the unit has channels on; ``on_abort(abort)`` once, on
    the loop, when it aborts, before the channels close (an exception of the owner's there
    still aborts, then propagates into aiortc's receive path, which ends the connection's
    DTLS)."""

    def __init__(self, transport: RTCSctpTransport, *, streams: Iterable[int], clock: Clock,
                 on_abort: Callable[[SctpAbort], None]) -> None:
        check_transport(transport)
        self._transport = transport
        self._streams = frozenset(streams)
        self._clock = clock
        self._on_abort = on_abort
        self.aborted: SctpAbort | None = None
        self._data = transport._receive_data_chunk
        self._forward_tsn = transport._receive_forward_tsn_chunk
        # on this instance only: aiortc's _receive_chunk calls them through self
        transport._advertised_rwnd = WINDOW_BYTES
        setattr(transport, "_receive_data_chunk", self._data_chunk)
        setattr(transport, "_receive_forward_tsn_chunk", self._forward_tsn_chunk)

    def held(self) -> tuple[int, int]:
        """What aiortc holds now: bytes of user data waiting for reassembly on all streams,
        and those chunks plus the out-of-order TSNs it remembers."""
        size = chunks = 0
        for stream in self._transport._inbound_streams.values():
            chunks += len(stream.reassembly)
            size += sum(len(c.user_data) for c in stream.reassembly)
        return size, chunks + len(self._transport._sack_misordered)

    def _is_new(self, tsn: int) -> bool:
        last = self._transport._last_received_tsn
        return last is None or not (uint32_gte(last, tsn)
                                    or tsn in self._transport._sack_misordered)

    def _message_bytes(self, chunk: DataChunk) -> int:
        """The bytes of the message ``chunk`` belongs to that would be held with it: its
        neighbours by TSN on its stream back to a first fragment and on to a last one."""
        stream = self._transport._inbound_streams.get(chunk.stream_id)
        by_tsn = {c.tsn: c for c in stream.reassembly} if stream is not None else {}
        total = len(chunk.user_data)
        tsn, flags = chunk.tsn, chunk.flags
        while not flags & _FIRST:
            tsn = (tsn - 1) % _TSN_MODULO
            before = by_tsn.get(tsn)
            if before is None or before.flags & _LAST:
                break
            total, flags = total + len(before.user_data), before.flags
        tsn, flags = chunk.tsn, chunk.flags
        while not flags & _LAST:
            tsn = (tsn + 1) % _TSN_MODULO
            after = by_tsn.get(tsn)
            if after is None or after.flags & _FIRST:
                break
            total, flags = total + len(after.user_data), after.flags
        return total

    async def _data_chunk(self, chunk: DataChunk) -> None:
        if self.aborted is not None:
            return                      # the association is gone: read nothing more
        if chunk.stream_id not in self._streams:
            await self._abort("sctp_stream", f"a DATA chunk for stream {chunk.stream_id}; "
                              f"the unit has channels on {sorted(self._streams)} only")
            return
        if self._is_new(chunk.tsn):     # a duplicate is dropped by aiortc, kept nowhere
            message = self._message_bytes(chunk)
            if message > MAX_MESSAGE_BYTES:
                await self._abort("sctp_oversize", f"a message of {message}+ bytes on "
                                  f"stream {chunk.stream_id}, at most {MAX_MESSAGE_BYTES}")
                return
            size, chunks = self.held()
            if size + len(chunk.user_data) > MAX_HELD_BYTES or chunks + 1 > MAX_HELD_CHUNKS:
                await self._abort("sctp_backlog", f"{size + len(chunk.user_data)} bytes in "
                                  f"{chunks + 1} chunks not delivered, at most "
                                  f"{MAX_HELD_BYTES} bytes and {MAX_HELD_CHUNKS} chunks")
                return
        await self._data(chunk)

    async def _forward_tsn_chunk(self, chunk: ForwardTsnChunk) -> None:
        if self.aborted is not None:
            return
        foreign = sorted({sid for sid, _ in chunk.streams} - self._streams)
        if foreign:
            await self._abort("sctp_stream", f"a FORWARD-TSN for stream(s) {foreign[:5]}; "
                              f"the unit has channels on {sorted(self._streams)} only")
            return
        await self._forward_tsn(chunk)

    async def _abort(self, reason: str, detail: str) -> None:
        size, chunks = self.held()
        abort = SctpAbort(reason, detail, size, chunks, self._clock.monotonic_ns())
        self.aborted = abort
        for stream in self._transport._inbound_streams.values():
            stream.reassembly = []      # the association is over: let it go now
        try:
            self._on_abort(abort)
        finally:
            await self._transport.stop()    # ABORT to the party; the channels close
