"""systemd's notify protocol (sd_notify): READY, STATUS, WATCHDOG, STOPPING over $NOTIFY_SOCKET.

A datagram to the unix socket named by NOTIFY_SOCKET (``@`` = the abstract namespace). Without
NOTIFY_SOCKET (not under systemd) every call does nothing.
"""
from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._sock: socket.socket | None = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def watchdog_usec(self) -> int:
        """WATCHDOG_USEC if systemd set it for this process, else 0."""
        pid = os.environ.get("WATCHDOG_PID")
        if pid and pid != str(os.getpid()):
            return 0
        try:
            return int(os.environ.get("WATCHDOG_USEC", "0"))
        except ValueError:
            return 0

    def send(self, **fields: str | int) -> None:
        if self._sock is None:
            return
        message = "\n".join(f"{k.upper()}={v}" for k, v in fields.items()).encode()
        address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            self._sock.sendto(message, address)
        except OSError:
            pass  # systemd went away; nothing to tell

    def ready(self, status: str = "") -> None:
        self.send(ready=1, **({"status": status} if status else {}))

    def status(self, text: str) -> None:
        self.send(status=text)

    def watchdog(self) -> None:
        self.send(watchdog=1)

    def stopping(self) -> None:
        self.send(stopping=1)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
