"""Where the display server listens: ``[display] listen = "127.0.0.1:PORT"``.

Only an IP literal is accepted (a host name could resolve to anything), with the port; IPv6 in
brackets (``[::1]:8470``). A non-loopback address is refused unless explicitly allowed: the
customer's screen is a browser on the unit itself, and nothing else on the network may reach it.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from firmware.unit.display.errors import ListenAddressError

DEFAULT_LISTEN = "127.0.0.1:8470"


@dataclass(frozen=True)
class ListenAddress:
    """An IP literal and a port (0: any free port, for tests)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, *, allow_non_loopback: bool = False) -> "ListenAddress":
        """``"127.0.0.1:8470"`` or ``"[::1]:8470"``; a ListenAddressError says what is wrong."""
        if not isinstance(text, str) or ":" not in text:
            raise ListenAddressError(f"[display] listen = {text!r}: must be HOST:PORT with an "
                                     "IP address, e.g. \"127.0.0.1:8470\"")
        host, _, port_text = text.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ListenAddressError(f"[display] listen = {text!r}: {host!r} is not an IP "
                                     "address (host names are not accepted; use 127.0.0.1)") \
                from None
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ListenAddressError(f"[display] listen = {text!r}: the port must be 0..65535")
        if not address.is_loopback and not allow_non_loopback:
            raise ListenAddressError(
                f"[display] listen = {text!r} is not a loopback address: the customer's screen "
                "must not be reachable from the network. Use 127.0.0.1, or set "
                "allow_non_loopback only if another device really must show the page")
        return cls(str(address), int(port_text))

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def netloc(self, port: int | None = None) -> str:
        """``host:port`` as a URL and a Host header spell it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port if port is None else port}"

    def bind(self) -> socket.socket:
        """A listening TCP socket bound to exactly this address (IPv6: v6 only)."""
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((self.host, self.port))
            sock.listen(64)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"the display server cannot listen on "
                          f"{self.netloc()}: {exc.strerror} (is another dualrec running, or "
                          "the port taken? change [display] listen)") from None
        return sock
