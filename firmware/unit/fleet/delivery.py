"""Delivering the outbox: oldest first, one message at a time, each acknowledged (QoS 1).

A message leaves the outbox only when the broker has acknowledged every publication it makes
(a checkpoint is two: the ``checkpoints`` stream and the retained ``checkpoint``). While the
unit is offline paho keeps the unacknowledged publication and sends it again on reconnect; after
a restart the outbox sends it again. A broker that refuses a publication (a PUBACK reason code
of 0x80 or more, e.g. not authorised) is reported to the owner and retried with a backoff that
doubles from ``backoff_min_s`` to ``backoff_max_s``; nothing is dropped.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

from paho.mqtt.reasoncodes import ReasonCode

from firmware.protocol.mqtt import topics
from firmware.protocol.mqtt.errors import FleetError, OutboxCorruptError
from firmware.unit.fleet.outbox import Outbox, OutboxEntry

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any], bool], "int | None"]  # (topic, payload, retain) -> mid


class DeliveryRefusedError(FleetError, ConnectionError):
    """The broker refused a publication of the outbox; it is retried later."""


class AckBook:
    """Acknowledgements (paho's ``on_publish``) by message id, for a thread to wait on."""

    def __init__(self, keep: int = 256) -> None:
        self._cond = threading.Condition()
        self._acks: OrderedDict[int, ReasonCode | None] = OrderedDict()
        self._keep = keep

    def record(self, mid: int, reason: ReasonCode | None) -> None:
        with self._cond:
            self._acks[mid] = reason
            while len(self._acks) > self._keep:
                self._acks.popitem(last=False)
            self._cond.notify_all()

    def wait(self, mid: int, timeout: float, stop: threading.Event) -> tuple[bool, Any]:
        """``(True, reason)`` once ``mid`` is acknowledged; ``(False, None)`` on timeout/stop."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while mid not in self._acks:
                left = deadline - time.monotonic()
                if left <= 0 or stop.is_set():
                    return False, None
                self._cond.wait(min(left, 0.5))
            return True, self._acks.pop(mid)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


def publications(device_id: str, entry: OutboxEntry) -> list[tuple[str, bool]]:
    """The ``(topic, retain)`` publications an outbox message makes, in order."""
    if entry.kind == "checkpoint":
        return [(topics.device_topic(device_id, topics.CHECKPOINTS), False),
                (topics.device_topic(device_id, topics.CHECKPOINT), True)]
    return [(topics.device_topic(device_id, topics.EVENTS), False)]


class OutboxSender:
    """The thread that empties the outbox while connected. Failures go to ``on_error``."""

    def __init__(self, outbox: Outbox, device_id: str, publish: Publish, acks: AckBook,
                 connected: threading.Event, on_error: Callable[[Exception], None], *,
                 ack_timeout_s: float = 60.0, backoff_min_s: float = 1.0,
                 backoff_max_s: float = 300.0) -> None:
        self.outbox = outbox
        self.device_id = device_id
        self.publish = publish
        self.acks = acks
        self.connected = connected
        self.on_error = on_error
        self.ack_timeout_s = ack_timeout_s
        self.backoff = (backoff_min_s, backoff_max_s)
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Something was queued, or the connection came back."""
        self._kick.set()

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            self._kick.wait(1.0)
            self._kick.clear()
            while self.connected.is_set() and not self._stop.is_set():
                try:
                    entry = self.outbox.peek()
                except OutboxCorruptError as exc:
                    self.on_error(exc)
                    continue
                except Exception as exc:
                    self.on_error(exc)
                    break
                if entry is None:
                    break
                try:
                    done = self._deliver(entry)
                except DeliveryRefusedError as exc:
                    self.on_error(DeliveryRefusedError(f"{exc}; retrying in {delay:g} s"))
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.backoff[1])
                    break
                except Exception as exc:
                    self.on_error(exc)
                    self._stop.wait(delay)
                    break
                if not done:
                    break
                delay = self.backoff[0]
                try:
                    self.outbox.remove(entry)
                except Exception as exc:
                    self.on_error(exc)
                    self._stop.wait(delay)
                    break

    def _deliver(self, entry: OutboxEntry) -> bool:
        """Publish every part of ``entry`` and wait for each acknowledgement; False: stopping."""
        for topic, retain in publications(self.device_id, entry):
            while True:
                mid = self.publish(topic, entry.payload, retain)
                if mid is None:
                    raise DeliveryRefusedError(f"outbox message {entry.seq}: the client "
                                               f"would not queue it for {topic}")
                acked, reason = self.acks.wait(mid, self.ack_timeout_s, self._stop)
                while not acked and not self.connected.is_set() and not self._stop.is_set():
                    # offline: paho holds the publication and sends it again on reconnect
                    acked, reason = self.acks.wait(mid, self.ack_timeout_s, self._stop)
                if self._stop.is_set():
                    return False
                if acked:
                    break
                log.info("outbox message %d: no acknowledgement in %g s; sending it again",
                         entry.seq, self.ack_timeout_s)
            if reason is not None and reason.is_failure:
                raise DeliveryRefusedError(f"the broker refused outbox message {entry.seq} on "
                                           f"{topic}: {reason}")
        return True

    def stop(self) -> None:
        """Stop after the publication in progress; safe twice."""
        self._stop.set()
        self._kick.set()
        self.acks.wake()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
