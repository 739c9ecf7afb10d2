"""systemd's notify protocol (sd_notify): READY, STATUS, WATCHDOG, STOPPING over $NOTIFY_SOCKET.

A datagram to the unix socket named by NOTIFY_SOCKET (``@`` = the abstract namespace). Without
NOTIFY_SOCKET (not under systemd) every call does nothing.

Sending never blocks: a unix datagram socket queues only ``net.unix.max_dgram_qlen``
messages (10 on many machines), and a busy or wedged service manager that stops reading would
otherwise freeze the daemon's main loop on the next send — and with it the watchdog, the stop
flag and the clean shutdown. A datagram the manager cannot take right now is dropped and
counted (:attr:`Notifier.dropped`); the next WATCHDOG or STATUS says the same again.

Why not ``systemd.daemon.notify`` (systemd-python): libsystemd's ``sd_notify`` sends with a
blocking ``sendmsg``, and the binding holds the GIL while it does, so on a full queue every
thread of the daemon stops (measured here: the 11th call to an unread socket never returns).
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import threading

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.dropped = 0
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)

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

    def send(self, **fields: str | int) -> bool:
        """Send one notification without blocking; False if it was dropped (queue full, no
        listener) or there is no NOTIFY_SOCKET."""
        with self._lock:
            if self._sock is None:
                return False
            message = "\n".join(f"{k.upper()}={v}" for k, v in fields.items()).encode()
            address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
            try:
                self._sock.sendto(message, socket.MSG_DONTWAIT, address)
            except OSError as exc:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 100 == 0:
                    why = "its queue is full" if exc.errno in (errno.EAGAIN, errno.ENOBUFS) \
                        else exc.strerror or str(exc)
                    log.warning("service manager did not take a notification (%s); %d dropped "
                                "so far", why, self.dropped)
                return False
            self.sent += 1
            return True

    def ready(self, status: str = "") -> bool:
        return self.send(ready=1, **({"status": status} if status else {}))

    def status(self, text: str) -> bool:
        return self.send(status=text)

    def watchdog(self) -> bool:
        return self.send(watchdog=1)

    def stopping(self) -> bool:
        return self.send(stopping=1)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
