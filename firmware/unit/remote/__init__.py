"""Remote parties' media on the unit: WebRTC calls (aiortc) recorded on the session's chain.

- :class:`RemoteParty`: one remote party's call, its streams sealed like the counter's
  (``remote-<party>-video-*.h264/.pts/.rtp``, ``remote-<party>-audio-*.wav/.rtp``), its joins,
  leaves, drops (GAP ``network_drop``) and statistics as records; ``connected``,
  ``latest_frame()`` and ``listen()`` for the session.
- :class:`CounterFeed`: what every party sees and hears of the counter.
- :class:`Signalling`: the transport the party's messages come through (the meeting relay's);
  :func:`signalling_pair` is an in-process one.
- :class:`RemoteOptions`, :class:`IceServer`: the call's settings; only configured ICE servers.

docs/remote-media.md describes the design; docs/evidence-format.md the records and files.
"""
from firmware.unit.remote.counter_feed import CounterFeed
from firmware.unit.remote.options import IceServer, RemoteOptions, RemoteOptionsError
from firmware.unit.remote.party import PartyStatus, RemoteParty, RemoteStateError
from firmware.unit.remote.signalling import (BadSignal, InProcessSignalling, Signalling,
                                             parse_message, signalling_pair)

__all__ = ["BadSignal", "CounterFeed", "IceServer", "InProcessSignalling", "PartyStatus",
           "RemoteOptions", "RemoteOptionsError", "RemoteParty", "RemoteStateError",
           "Signalling", "parse_message", "signalling_pair"]
