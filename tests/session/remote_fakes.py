"""The session as the remote parties' tests see it, without models or calls (not collected): a
sale with a remote policyholder, the meeting's view of its admitted parties, each party's call
as the ``Media`` protocol of the remote parties' part, and a session context whose flow thread
the test plays."""
from __future__ import annotations

import json
import queue
from types import SimpleNamespace

import numpy as np
import pytest

from firmware.unit.session.binding import Binding
from firmware.unit.session.parts import SessionContext
from firmware.unit.session.remote_parties import REMOTE_PARTIES, RemoteSeated
from firmware.unit.session.script import parse_template

S = 1_000_000_000
PROMPT_END = 100 * S
ZHAO = ("赵敏", "110105198503150027")
WANG = ("王强", "110101199007070035")
OTHER = "110101199003074514"

TEMPLATE = parse_template("""
[template]
id = "remote-unit"
version = "1"
title = "t"
channel = "bank"
products = ["life"]
elder = false

[[node]]
id = "consent"
title = "同意"
kind = "consent"
prompt = "请回答同意。"
requires = ["answer"]
answer_seconds = 3

[[node]]
id = "idcheck"
title = "证件"
kind = "show_id"
prompt = "请出示证件。"
requires = ["photo"]
""")


def people(*, counter_customer: bool) -> bytes:
    customers = [{"role": "policyholder", "name": ZHAO[0], "id_type": "resident_id",
                  "id_number": ZHAO[1], "remote": True}]
    if counter_customer:
        customers.append({"role": "insured", "name": WANG[0], "id_type": "resident_id",
                          "id_number": WANG[1]})
    return json.dumps({"application_number": "TB1", "customers": customers},
                      ensure_ascii=False).encode()

class Call:
    """A remote party's call as the session parts see it (the ``Media`` protocol)."""

    def __init__(self, connected: bool = True) -> None:
        self.connected = connected
        self.listeners: list = []
        self.frame: tuple[np.ndarray, int] | None = None

    def listen(self, callback):
        self.listeners.append(callback)
        return lambda: self.listeners.remove(callback)

    def latest_frame(self):
        return self.frame

    def start(self) -> None: ...

    def close(self) -> None: ...


class Meeting:
    """The remote parties' view (``ctx.values[REMOTE_PARTIES]``)."""

    def __init__(self, seats: tuple[int, ...] = (0,)) -> None:
        self.seats = seats
        self.parties: list[RemoteSeated] = []

    def admit(self, party: str, seats: tuple[int, ...] = (0,), **call) -> Call:
        media = Call(**call)
        self.parties.append(RemoteSeated(party, seats, media))
        return media

    def admitted(self):
        return tuple(self.parties)

    def remote_seats(self):
        return self.seats


class Flow:
    """The session's context, with the flow's thread played by the test (``run_until``)."""

    def __init__(self, people_json: bytes | None, meeting: Meeting | None) -> None:
        self.events: list[tuple[str, dict]] = []
        self.sealed: dict[str, tuple[bytes, dict]] = {}
        self.signals: list[str] = []
        self.said: list[str] = []
        self.now = PROMPT_END
        self._posted: queue.Queue = queue.Queue()
        self.ctx = SessionContext(
            "s1", Binding(TEMPLATE, people_json=people_json), event=self._event,
            seal=self._seal, post=self._posted.put, signal=self.signals.append,
            now_ns=lambda: self.now, wall_ns=lambda: 0)
        if meeting is not None:
            self.ctx.values[REMOTE_PARTIES] = meeting

    def _event(self, kind, data):
        self.events.append((kind, data))

    def _seal(self, name, content, data):
        self.sealed[name] = (content, data)
        return SimpleNamespace(files=[SimpleNamespace(path=f"sessions/s1/{name}",
                                                      sha256="0" * 64)])

    def kinds(self, kind):
        return [d for k, d in self.events if k == kind]

    def run_until(self, predicate, what: str, timeout: float = 30.0) -> None:
        """Run what the parts posted, as the flow's thread would, until ``predicate()``."""
        while not predicate():
            try:
                self._posted.get(timeout=timeout)()
            except queue.Empty:
                pytest.fail(f"timed out waiting for {what}; events: {self.events}")


