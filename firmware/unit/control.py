"""The local control socket: a person at a shell drives the appliance (``dualrec press NEXT``,
``dualrec status``). One JSON object per line each way on a unix socket (mode 0660).

A local account in the socket's group is not trusted with more than the commands: a request
longer than :data:`MAX_REQUEST` is refused before it is read whole, at most
:data:`MAX_CLIENTS` connections are served at once (more are answered "busy" and closed), an
idle connection is dropped after :data:`IDLE_TIMEOUT_S`, and requests carry their data inline
(the daemon never opens a path a request names).

Requests: ``{"cmd": "status"}``, ``{"cmd": "press", "button": "NEXT", "seconds": 0.1}``,
``{"cmd": "hold", "button": "RECORD", "seconds": 2.5}``, and on simulated hardware ``{"cmd":
"sim", "device": "camera"|"microphone"|"sigpad", "action": ...}``. Answers: ``{"ok": true,
...}`` or ``{"ok": false, "error": "..."}``.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any, Callable

from firmware.evidence import durable

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
MAX_CLIENTS = 8
IDLE_TIMEOUT_S = 30.0


class ControlError(ValueError):
    """A control request that cannot be done; the message goes back to the caller."""


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True


class ControlServer:
    """Serves ``handler(request) -> answer`` on ``path`` from a thread of its own."""

    def __init__(self, path: str | os.PathLike, handler: Handler, *,
                 max_clients: int = MAX_CLIENTS) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kind = durable.lkind(self.path)
        if kind == "socket":
            self.path.unlink()  # a stale socket of an earlier run
        elif kind != "missing":
            raise ControlError(f"control socket {self.path}: a {kind} is in the way; the daemon "
                               "removes only a stale socket, never another file")
        handle = handler
        slots = threading.BoundedSemaphore(max_clients)

        class _Request(socketserver.StreamRequestHandler):
            timeout = IDLE_TIMEOUT_S

            def handle(self) -> None:
                if not slots.acquire(blocking=False):
                    self._send({"ok": False, "error": "busy: too many control connections"})
                    return
                try:
                    while True:
                        raw = self.rfile.readline(MAX_REQUEST + 1)
                        if not raw:
                            return
                        if len(raw) > MAX_REQUEST:
                            self._send({"ok": False, "error": f"request too large (more than "
                                        f"{MAX_REQUEST} bytes); nothing was done"})
                            return  # the rest is never read
                        self._send(_answer(handle, raw))
                except (socket.timeout, ConnectionError, OSError):
                    return
                finally:
                    slots.release()

            def _send(self, answer: dict) -> None:
                try:
                    self.wfile.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
                except OSError:
                    pass  # the caller went away

        self._server = _Server(str(self.path), _Request)
        os.chmod(self.path, 0o660)
        self._thread = threading.Thread(target=self._server.serve_forever, name="control",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and remove the socket. Safe twice."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
        if durable.lkind(self.path) == "socket":
            self.path.unlink()


def _answer(handler: Handler, raw: bytes) -> dict[str, Any]:
    try:
        request = json.loads(raw)
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            raise ControlError('a request is a JSON object with a "cmd" string')
        return {"ok": True, **handler(request)}
    except json.JSONDecodeError as exc:
        return {"ok": False, "error": f"not JSON: {exc}"}
    except (ControlError, ValueError, TypeError) as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # the daemon keeps serving; the caller learns what failed
        log.exception("control request failed")
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def request(path: str | os.PathLike, req: dict[str, Any], timeout: float = 30.0) -> dict:
    """Send one request to a running daemon and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ConnectionError(f"no dualrec daemon at {path} ({exc.strerror}); is "
                                  "`dualrec run` running with this control socket?") from None
        sock.sendall(json.dumps(req).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)
