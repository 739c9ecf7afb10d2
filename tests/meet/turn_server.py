"""A real TURN server for the meeting tests (not collected): coturn's ``turnserver`` on
127.0.0.1, a free UDP port, TURN REST credentials (``use-auth-secret`` with a secret the test
makes), relaying to loopback peers. It runs in the foreground as the test's child process, its
log read line by line from its standard output (and kept in a file in the test's directory);
every wait is on a log line, bounded.

coturn comes from Debian's ``coturn`` package (``./dev`` installs it); without it the test
fails and says so.
"""
from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Callable

import pytest

WAIT = 15.0
REALM = "dualrec.test"


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing holds now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TurnServer:
    """coturn on ``127.0.0.1:port`` with ``static-auth-secret`` :attr:`secret`; :attr:`url` is
    the ``turn:`` URL to configure, :meth:`lines` its log so far, :meth:`wait_line` a line to
    come. A context manager; :meth:`stop` is safe twice."""

    def __init__(self, root: Path, secret: bytes | None = None) -> None:
        self.root = root
        self.secret = secret or secrets.token_hex(24).encode("ascii")
        self.port = free_udp_port()
        self.url = f"turn:127.0.0.1:{self.port}?transport=udp"
        self.log_path = root / "turnserver.log"
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def _config(self) -> Path:
        conf = self.root / "turnserver.conf"
        conf.touch(mode=0o600)
        conf.write_text("\n".join([
            "listening-ip=127.0.0.1", f"listening-port={self.port}", "relay-ip=127.0.0.1",
            "use-auth-secret", f"static-auth-secret={self.secret.decode('ascii')}",
            f"realm={REALM}",
            "allow-loopback-peers",          # every peer here is on loopback
            "no-tls", "no-dtls", "no-tcp", "no-cli", "no-rfc5780",
            "log-file=stdout", "simple-log", "verbose",
            f"pidfile={self.root / 'turnserver.pid'}",
            f"userdb={self.root / 'turndb'}",   # not /var/lib/turn: nothing left behind
            ""]))
        return conf

    def start(self) -> "TurnServer":
        binary = shutil.which("turnserver")
        if binary is None:
            pytest.fail("coturn's turnserver is not installed: the TURN tests need Debian's "
                        "package coturn (apt-get install coturn; ./dev installs it)",
                        pytrace=False)
        self.root.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen([binary, "-c", str(self._config())],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, errors="replace")
        self._reader = threading.Thread(target=self._read, name="turnserver-log", daemon=True)
        self._reader.start()
        listening = f"UDP listener opened on: 127.0.0.1:{self.port}"
        try:
            self.wait_line(lambda line: listening in line, "its UDP listener")
        except AssertionError:
            self.stop()
            raise
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        with open(self.log_path, "w", encoding="utf-8") as log:
            for line in self._proc.stdout:
                log.write(line)
                log.flush()
                with self._cond:
                    self._lines.append(line.rstrip("\n"))
                    self._cond.notify_all()
        with self._cond:
            self._lines.append("<exited>")
            self._cond.notify_all()

    def lines(self) -> list[str]:
        with self._cond:
            return list(self._lines)

    def wait_line(self, predicate: Callable[[str], bool], what: str,
                  timeout: float = WAIT) -> str:
        """The first log line ``predicate`` takes (waiting up to ``timeout`` for it)."""
        def found() -> str | None:
            return next((line for line in self._lines if predicate(line)), None)
        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None
                                       or "<exited>" in self._lines, timeout) \
                    or found() is None:
                tail = "\n".join(self._lines[-30:])
                raise AssertionError(f"coturn: no log line for {what}; its log ends:\n{tail}")
            return found()

    @staticmethod
    def _allocation(username: str) -> str:
        return f"user <{username}>: incoming packet ALLOCATE processed, success"

    def wait_allocation(self, username: str) -> str:
        """coturn's log line saying it allocated a relay for ``username`` (it took the
        credentials), waited for."""
        return self.wait_line(lambda line: self._allocation(username) in line,
                              f"an allocation for {username}")

    def allocated(self, username: str) -> bool:
        """Whether coturn allocated a relay for ``username`` so far."""
        return any(self._allocation(username) in line for line in self.lines())

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(WAIT)
        if self._reader is not None:
            self._reader.join(WAIT)

    def __enter__(self) -> "TurnServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
