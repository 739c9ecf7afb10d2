"""A fault-injecting HTTP proxy on loopback, between the uploader and the S3 server.

Every request is forwarded to the upstream server unless a fault rule matches it. Rules are
consumed in the order they were added, each ``times`` times:

- ``status``: answer ``status`` (an S3 XML error) without forwarding
- ``cut_request``: read half the request body, then close the connection (the server never
  sees the request: a network cut mid-part)
- ``cut_response``: forward the request, then close without answering (the server did the
  work, the client never hears: its retry meets ``If-None-Match``)
- ``delay``: forward, then wait ``delay`` seconds before answering (a slow link; past the
  client's read timeout it is a lost answer as well)

``on_request`` is called with each request line first (to act at a given moment).
:meth:`down` stops accepting connections (refused, as a cut network), :meth:`up` resumes on the
same port. ``log`` records each request and what was done with it.
"""
from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from dataclasses import dataclass

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer",
                        "upgrade", "expect"})


@dataclass
class Fault:
    action: str
    method: str | None = None
    pattern: str | None = None      # regex searched in "METHOD /path?query"
    times: int = 1
    status: int = 503
    delay: float = 0.0

    def matches(self, line: str) -> bool:
        return (self.times > 0 and (self.method is None or line.startswith(self.method + " "))
                and (self.pattern is None or re.search(self.pattern, line) is not None))


@dataclass(frozen=True)
class Logged:
    method: str
    target: str
    body_bytes: int
    action: str                     # "forward" or the fault's action
    status: int | None              # what the client was answered (None: nothing)


def _read_head(conn: socket.socket) -> tuple[bytes, bytes] | None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _recv_exact(conn: socket.socket, n: int, have: bytes) -> bytes:
    out = bytearray(have)
    while len(out) < n:
        chunk = conn.recv(min(1 << 20, n - len(out)))
        if not chunk:
            raise ConnectionError("client went away mid-body")
        out += chunk
    return bytes(out)


def _read_chunked(conn: socket.socket, have: bytes) -> bytes:
    buf = bytearray(have)
    body = bytearray()

    def need(n: int) -> None:
        while len(buf) < n:
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("client went away mid-body")
            buf.extend(chunk)
    while True:
        while b"\r\n" not in buf:
            need(len(buf) + 1)
        line, _, rest = bytes(buf).partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        buf[:] = rest
        if size == 0:  # then trailers, ended by an empty line
            while not (bytes(buf).startswith(b"\r\n") or b"\r\n\r\n" in buf):
                need(len(buf) + 1)
            return bytes(body)
        need(size + 2)
        body += buf[:size]
        buf[:] = buf[size + 2:]


class FaultProxy:
    """HTTP/1.1 proxy on 127.0.0.1 with one request per connection."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.log: list[Logged] = []
        self.on_request = None          # called with "METHOD /path?query" before each request
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control -------------------------------------------------------------------------------
    def add(self, action: str, *, method: str | None = None, pattern: str | None = None,
            times: int = 1, status: int = 503, delay: float = 0.0) -> Fault:
        fault = Fault(action, method, pattern, times, status, delay)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def requests(self, method: str | None = None, pattern: str | None = None) -> list[Logged]:
        with self._lock:
            return [r for r in self.log if (method is None or r.method == method)
                    and (pattern is None or re.search(pattern, r.target))]

    def set_upstream(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream

    def up(self) -> None:
        """Accept connections (on the same port as before, if there was one)."""
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True,
                                  name="faultproxy-accept")
        thread.start()
        self._threads.append(thread)

    def down(self) -> None:
        """Refuse connections (the network is cut)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()

    def close(self) -> None:
        self.down()
        for thread in self._threads:
            thread.join(timeout=5)

    # -- serving -------------------------------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                      name="faultproxy-conn")
            thread.start()

    def _take_fault(self, line: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(line):
                    fault.times -= 1
                    return fault
        return None

    def _record(self, *entry) -> None:
        with self._lock:
            self.log.append(Logged(*entry))

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(30)
                self._serve_one(conn)
        except (OSError, ConnectionError, ValueError):
            pass

    def _serve_one(self, conn: socket.socket) -> None:
        got = _read_head(conn)
        if got is None:
            return
        head, rest = got
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = [tuple(h.split(":", 1)) for h in lines[1:] if ":" in h]
        headers = [(k.strip(), v.strip()) for k, v in headers]
        lower = {k.lower(): v for k, v in headers}
        line = f"{method} {target}"
        if self.on_request is not None:
            self.on_request(line)
        fault = self._take_fault(line)
        if "100-continue" in lower.get("expect", "").lower():
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        length = int(lower.get("content-length", "0") or 0)
        if fault is not None and fault.action == "cut_request":
            _recv_exact(conn, max(0, min(length, len(rest) + length // 2)), rest)
            self._record(method, target, length, "cut_request", None)
            conn.shutdown(socket.SHUT_RDWR)
            return
        if "chunked" in lower.get("transfer-encoding", "").lower():
            body = _read_chunked(conn, rest)
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
            headers.append(("Content-Length", str(len(body))))
        else:
            body = _recv_exact(conn, length, rest)
        if fault is not None and fault.action == "status":
            payload = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>'
                       f'{"ServiceUnavailable" if fault.status == 503 else "InternalError"}'
                       f'</Code><Message>injected by the test proxy</Message></Error>').encode()
            conn.sendall(f"HTTP/1.1 {fault.status} Injected\r\nContent-Type: application/xml"
                         f"\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
                         .encode() + (b"" if method == "HEAD" else payload))
            self._record(method, target, len(body), "status", fault.status)
            return
        status, reason, out_headers, out_body = self._forward(method, target, headers, body)
        if fault is not None and fault.action == "cut_response":
            self._record(method, target, len(body), "cut_response", None)
            conn.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.action == "delay":
            time.sleep(fault.delay)
        response = [f"HTTP/1.1 {status} {reason}"]
        response += [f"{k}: {v}" for k, v in out_headers]
        response.append("Connection: close")
        conn.sendall(("\r\n".join(response) + "\r\n\r\n").encode("latin-1") + out_body)
        self._record(method, target, len(body), fault.action if fault else "forward", status)

    def _forward(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes):
        upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                if k.lower() not in HOP_BY_HOP:
                    upstream.putheader(k, v)
            upstream.endheaders(body if body or method in ("PUT", "POST") else None)
            resp = upstream.getresponse()
            out_body = resp.read()
            out_headers = []
            for k, v in resp.getheaders():
                if k.lower() in HOP_BY_HOP or k.lower() == "transfer-encoding":
                    continue
                if k.lower() == "content-length" and method != "HEAD":
                    continue
                out_headers.append((k, v))
            if method != "HEAD":
                out_headers.append(("Content-Length", str(len(out_body))))
            return resp.status, resp.reason, out_headers, out_body
        finally:
            upstream.close()
