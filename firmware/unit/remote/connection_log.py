"""A party's connection on the chain: who joined and left, how the connection went, and how
well it carried the media. All EVENT records of the party's session, through the party's
sealer (in order with its segments), every time CLOCK_MONOTONIC ns:

| ``kind`` | ``data`` |
| --- | --- |
| ``remote_joined`` | ``party``, ``connection`` (1, 2, … per party), ``at_ns``, ``audio_codec``, ``video_codec`` (what the answer chose), ``local_candidate`` / ``remote_candidate``: the types (``host``, ``srflx``, ``prflx``, ``relay``; null if unknown) of the unit's and the party's side of the pair ICE chose — ``relay`` means through a TURN server; ``unit_candidates``: how many candidates of each type the unit offered in its answer (``{"host": 2, "relay": 1}``: no ``relay`` although ``[meet] ice_servers`` names a TURN server means the server refused or did not answer the unit's allocation — aiortc says nothing else of it) |
| ``remote_connection`` | ``party``, ``connection``, ``layer`` (``"connection"`` or ``"ice"``), ``state`` (aiortc's ``connectionState`` / ``iceConnectionState``), ``at_ns`` |
| ``remote_stats`` | ``party``, ``connection``, ``at_ns``, ``interval_ms``, ``rtt_us`` (or null), ``rx_kbps``, ``tx_kbps``, and per received stream ``audio`` / ``video``: ``packets_received``, ``packets_lost``, ``jitter_us`` |
| ``remote_refused`` | ``party``, ``reason``: a signalling message or offer the unit would not take |
| ``remote_left`` | ``party``, ``at_ns``, ``reason`` (``"bye"``: the party hung up; ``"unit_closed"``: the unit ended the call), ``connections``, ``state_events_dropped``, ``refusals_dropped`` |

Bounded: at most ``max_events`` ``remote_connection`` and as many ``remote_refused`` records per
party (the rest are counted in ``remote_left``); ``remote_stats`` come at most once per stats
period, each a fixed set of integers.
"""
from __future__ import annotations

from typing import Any

from drivers.clock import Clock
from firmware.evidence.store import Evidence
from firmware.unit.recorder.sealer import Sealer

MAX_REASON = 200


class ConnectionLog:
    """The EVENT records of one party's connection (any thread)."""

    def __init__(self, evidence: Evidence, sealer: Sealer, clock: Clock, session_id: str,
                 party: str, *, max_events: int = 64) -> None:
        self._evidence = evidence
        self._sealer = sealer
        self._clock = clock
        self._session = session_id
        self._party = party
        self._max_events = max_events
        self._state_events = 0
        self._refusals = 0
        self.state_events_dropped = 0
        self.refusals_dropped = 0
        self.connections = 0
        self.joined_ns: int | None = None
        self.left_reason: str | None = None

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        data = {"party": self._party, **data}
        self._sealer.submit(lambda: self._evidence.event(kind, data, session_id=self._session))

    def joined(self, connection: int, audio_codec: str | None, video_codec: str | None, *,
               candidates: tuple[str | None, str | None] = (None, None),
               gathered: dict[str, int] | None = None) -> None:
        now = self._clock.monotonic_ns()
        self.connections = max(self.connections, connection)
        if self.joined_ns is None:
            self.joined_ns = now
        self.left_reason = None
        self._event("remote_joined", {"connection": connection, "at_ns": now,
                                      "audio_codec": audio_codec, "video_codec": video_codec,
                                      "local_candidate": candidates[0],
                                      "remote_candidate": candidates[1],
                                      "unit_candidates": dict(sorted((gathered or {}).items()))})

    def state(self, connection: int, layer: str, state: str) -> None:
        if self._state_events >= self._max_events:
            self.state_events_dropped += 1
            return
        self._state_events += 1
        self._event("remote_connection", {"connection": connection, "layer": layer,
                                          "state": state[:MAX_REASON],
                                          "at_ns": self._clock.monotonic_ns()})

    def stats(self, connection: int, figures: dict[str, Any]) -> None:
        self._event("remote_stats", {"connection": connection,
                                     "at_ns": self._clock.monotonic_ns(), **figures})

    def refused(self, reason: str) -> None:
        if self._refusals >= self._max_events:
            self.refusals_dropped += 1
            return
        self._refusals += 1
        self._event("remote_refused", {"reason": reason[:MAX_REASON],
                                       "at_ns": self._clock.monotonic_ns()})

    def left(self, reason: str) -> None:
        """The party left (once per join; a second call before a new join does nothing)."""
        if self.left_reason is not None or self.joined_ns is None:
            return
        self.left_reason = reason
        self._event("remote_left", {"at_ns": self._clock.monotonic_ns(), "reason": reason,
                                    "connections": self.connections,
                                    "state_events_dropped": self.state_events_dropped,
                                    "refusals_dropped": self.refusals_dropped})
