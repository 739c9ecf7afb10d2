"""The socket systemd listens on for ``sd_notify``: NOTIFY_SOCKET datagrams, read continuously
by a thread as systemd does, so no test depends on the kernel's datagram queue length."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path


class NotifySocket:
    """Every line received, with its arrival time; readers consume them through a cursor."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.seen: list[tuple[float, str]] = []   # everything, in order of arrival
        self._cursor = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="notify-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(65536).decode()
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            with self._cond:
                self.seen += [(now, line) for line in data.split("\n") if line]
                self._cond.notify_all()

    def _take(self) -> list[tuple[float, str]]:
        got, self._cursor = self.seen[self._cursor:], len(self.seen)
        return got

    def receive(self, seconds: float) -> list[tuple[float, str]]:
        """Lines not yet taken, plus every line that arrives within ``seconds``."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return self._take()

    def wait_for(self, prefix: str, timeout: float = 60) -> list[str]:
        """Lines up to and including the first (not yet taken) that starts with ``prefix``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(self._cursor, len(self.seen)):
                    if self.seen[i][1].startswith(prefix):
                        got = [line for _t, line in self.seen[self._cursor:i + 1]]
                        self._cursor = i + 1
                        return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {prefix!r} within {timeout} s; got "
                                         f"{[line for _t, line in self.seen[self._cursor:]]}")
                self._cond.wait(left)

    def close(self) -> None:
        self._closed = True
        self._thread.join()
        self.sock.close()
