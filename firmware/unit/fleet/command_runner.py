"""Running commands off the network thread, once per id.

Two workers: a fast one (ping, capabilities, status) and a slow one (everything else, one at a
time), so a long ``verify`` never delays a ``ping``. A repeated id with the same request is
answered from the :class:`ResponseCache` (``"repeat": true``), not run again; with another
request it is refused (``id_reused``); an id still running gets ``in_progress``. A request
published with the retain flag is refused (``retained``): a command is never run because it
was left on the broker. A refused request (malformed, oversized, unknown, bad arguments,
busy, id reused, retained) is answered at once and changes nothing, not even the cache. The
answer of a command that ran is stored before it is sent, and a restart or reboot starts only
after that.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from firmware.unit.fleet.commands import (MAX_COMMAND_BYTES, Command, CommandHandlers,
                                          parse_command, readable_parts)
from firmware.protocol.mqtt.errors import CommandError, PersonalDataError
from firmware.protocol.mqtt.payloads import response_payload
from firmware.protocol.mqtt.privacy import check_payload
from firmware.unit.fleet.state_files import ResponseCache

log = logging.getLogger(__name__)

QUEUE_LIMIT = 16


@dataclass(frozen=True)
class Reply:
    """Where an answer goes: the request's ResponseTopic and CorrelationData."""

    topic: str
    correlation: bytes | None


Respond = Callable[[dict[str, Any], Reply], None]
_STOP = object()


class CommandRunner:
    """Queues, runs and answers commands. ``respond(payload, reply)`` publishes an answer."""

    def __init__(self, device_id: str, handlers: CommandHandlers, cache: ResponseCache,
                 respond: Respond, on_error: Callable[[Exception], None]) -> None:
        self.device_id = device_id
        self.handlers = handlers
        self.cache = cache
        self.respond = respond
        self.on_error = on_error
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._queues = {lane: queue.Queue(QUEUE_LIMIT) for lane in ("fast", "slow")}
        self._threads = [threading.Thread(target=self._work, args=(q,), daemon=True,
                                          name=f"fleet-cmd-{lane}")
                         for lane, q in self._queues.items()]
        self._closed = False

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def _error(self, exc: CommandError) -> dict[str, Any]:
        return response_payload(self.device_id, exc.cmd_id, exc.command, ok=False,
                                code=exc.code, message=exc.message, ts=time.time())

    def submit(self, payload: bytes, reply: Reply, *, retained: bool = False) -> None:
        """Take one request (from the network thread); never raises, never blocks."""
        if self._closed:
            return
        if retained:
            self.respond(self._error(_retained(payload)), reply)
            return
        try:
            cmd = parse_command(payload)
        except CommandError as exc:
            self.respond(self._error(exc), reply)
            return
        with self._lock:
            cached = self.cache.get(cmd.id)
            if cached is None and cmd.id in self._running:
                busy = CommandError("in_progress", f"command {cmd.id} is still running",
                                    cmd_id=cmd.id, command=cmd.name)
            elif cached is None:
                busy = None
                self._running.add(cmd.id)
        if cached is not None:
            answer, request = cached
            if request and request != cmd.fingerprint or not request \
                    and answer.get("command") != cmd.name:
                self.respond(self._error(CommandError(
                    "id_reused", f"id {cmd.id} was used before for {answer.get('command')} "
                    "with other arguments; it is not run, and the old answer is not sent: send "
                    "a new id", cmd_id=cmd.id, command=cmd.name)), reply)
            else:
                self.respond({**answer, "repeat": True}, reply)
            return
        if busy is None:
            try:
                self._queues["slow" if cmd.slow else "fast"].put_nowait((cmd, reply))
                return
            except queue.Full:
                with self._lock:
                    self._running.discard(cmd.id)
                busy = CommandError("busy", f"{QUEUE_LIMIT} commands are waiting; try again",
                                    cmd_id=cmd.id, command=cmd.name)
        self.respond(self._error(busy), reply)

    def submit_call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the slow worker (a retained desired configuration); drop if full."""
        try:
            self._queues["slow"].put_nowait(fn)
        except queue.Full:
            log.warning("slow command queue full; a desired configuration waits for the next "
                        "delivery")

    def _work(self, q: queue.Queue) -> None:
        while True:
            item = q.get()
            if item is _STOP:
                return
            try:
                if callable(item):
                    item()
                else:
                    self._run(*item)
            except Exception as exc:  # a worker reports to its owner and goes on
                self.on_error(exc)

    def _run(self, cmd: Command, reply: Reply) -> None:
        then = None
        try:
            outcome = self.handlers.run(cmd)
            then = outcome.then
            response = response_payload(self.device_id, cmd.id, cmd.name, ok=True,
                                        result=outcome.result, ts=time.time())
        except CommandError as exc:
            response = self._error(CommandError(exc.code, exc.message, cmd_id=cmd.id,
                                                command=cmd.name))
        except Exception as exc:
            self.on_error(exc)
            response = response_payload(self.device_id, cmd.id, cmd.name, ok=False,
                                        code="failed", message=f"{type(exc).__name__}: {exc}",
                                        ts=time.time())
        try:
            check_payload(response)
            json.dumps(response)  # a hook returning something not JSON is its failure
        except (PersonalDataError, TypeError, ValueError) as exc:
            code = "personal_data" if isinstance(exc, PersonalDataError) else "failed"
            response = response_payload(self.device_id, cmd.id, cmd.name, ok=False, code=code,
                                        message=str(exc), ts=time.time())
            then = None
        try:
            with self._lock:
                self.cache.put(cmd.id, response, cmd.fingerprint)
        finally:
            with self._lock:
                self._running.discard(cmd.id)
        self.respond(response, reply)
        if then is not None:
            then()

    def close(self) -> None:
        """Stop the workers after what they are running; safe twice, and from a worker."""
        if self._closed:
            return
        self._closed = True
        for q in self._queues.values():
            while True:
                try:
                    q.get_nowait()
                except queue.Empty:
                    break
            q.put(_STOP)
        for t in self._threads:
            if t.is_alive() and t is not threading.current_thread():
                t.join(timeout=10)


def _retained(payload: bytes) -> CommandError:
    """The refusal of a request published with the retain flag (with what could be read)."""
    try:
        raw = json.loads(payload.decode("utf-8")) if len(payload) <= MAX_COMMAND_BYTES else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raw = None
    cmd_id, name = readable_parts(raw)
    return CommandError("retained", "the request was published with the retain flag and is not "
                        "run: commands are never retained (clear it with an empty retained "
                        "message, and send it again without the flag)", cmd_id=cmd_id,
                        command=name)
