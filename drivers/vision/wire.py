"""Frames between the daemon and the vision worker: a 4-byte big-endian length, then that many
bytes, over one Unix stream socket.

Every read is bounded (a frame longer than the reader's limit is refused before it is read)
and every wait is timed, sending included: a worker that stops reading cannot block the daemon
on a full socket buffer. Nothing is unpickled: headers and replies are JSON, images raw bytes,
so a worker compromised through a decoder cannot run code in the daemon.
"""
from __future__ import annotations

import json
import select
import socket
import struct
import time

_LENGTH = struct.Struct(">I")


class Wire:
    """One end of the socket. Not thread-safe: its owner serialises use.

    Timeouts raise TimeoutError; a peer that has gone raises EOFError (nothing more to read)
    or BrokenPipeError / ConnectionResetError (on sending); a frame over the limit raises
    ConnectionError, after which the stream is out of step and must be closed.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, *frames: bytes | memoryview, timeout_s: float) -> None:
        """Send ``frames`` (anything with a contiguous byte buffer), all within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        for frame in frames:
            view = memoryview(frame).cast("B")
            self._sock.settimeout(_left(deadline))
            self._sock.sendall(_LENGTH.pack(view.nbytes))
            self._sock.settimeout(_left(deadline))
            self._sock.sendall(view)

    def send_json(self, message: dict, *, timeout_s: float) -> None:
        self.send(encode_json(message), timeout_s=timeout_s)

    def readable(self, timeout_s: float | None) -> bool:
        """Whether a frame (or the end of the stream) can be read within ``timeout_s``
        seconds (None: wait as long as it takes)."""
        ready, _, _ = select.select([self._sock], [], [], timeout_s)
        return bool(ready)

    def recv(self, limit: int, *, timeout_s: float) -> bytearray:
        """One frame of at most ``limit`` bytes, all of it within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        (length,) = _LENGTH.unpack(self._read(_LENGTH.size, deadline))
        if length > limit:
            raise ConnectionError(f"a frame of {length} bytes, more than the {limit} allowed")
        return self._read(length, deadline)

    def recv_json(self, limit: int, *, timeout_s: float) -> dict:
        message = json.loads(self.recv(limit, timeout_s=timeout_s))
        if not isinstance(message, dict):
            raise ConnectionError(f"expected a JSON object, got {type(message).__name__}")
        return message

    def close(self) -> None:
        self._sock.close()

    def _read(self, n: int, deadline: float) -> bytearray:
        buffer = bytearray(n)
        view = memoryview(buffer)
        got = 0
        while got < n:
            self._sock.settimeout(_left(deadline))
            count = self._sock.recv_into(view[got:])
            if count == 0:
                raise EOFError("the other end closed the connection")
            got += count
        return buffer


def encode_json(message: dict) -> bytes:
    """``message`` as the compact UTF-8 JSON of one frame."""
    return json.dumps(message, separators=(",", ":")).encode()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left
