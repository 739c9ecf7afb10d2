"""What the screen shows of a session's facts: the people by role with masked names, the needs
of a node from the refusals that stand, and the unit's state between sessions.

Pure functions over the flow's data (a binding's ``people.json``, refusal codes, the flow's
:class:`~firmware.unit.session.binding.FlowSnapshot`); :mod:`.screen_part` calls them on the
flow's thread.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Iterable

from firmware.unit.display.errors import ViewError
from firmware.unit.display.refusals import NEEDS
from firmware.unit.display.start_refusals import StartRefusal
from firmware.unit.display.view import IDLE_HINT, MAX_PEOPLE, ROLES, DisplayView, Person
from firmware.unit.session.binding import FlowSnapshot

log = logging.getLogger(__name__)

MAX_PEOPLE_JSON = 256 * 1024
"""people.json is at most a few kilobytes; anything larger is not read (bounded input)."""

REASON_NEEDS: dict[str, str] = {
    "missing_answer": "answer", "answer_negative": "answer", "answer_unclear": "answer",
    "answer_not_asked": "answer",
    "missing_photo": "photo",
    "missing_signature": "signature", "signing": "signature",
    "pages_unread": "pages",
    "missing_badge": "badge",
}
"""Which need of the screen a refusal code stands for (codes that are no need, such as
``min_duration`` with its countdown or ``prompt_playing``, are not listed)."""

IDLE_STATUS: dict[str, tuple[str, str]] = {
    "idle": ("idle", "设备就绪"),
    "recording": ("idle", "设备就绪"),        # a session just ended; the flow says idle next
    "selftest_failed": ("fault", "设备自检未通过：请检查摄像头和麦克风，或联系运维"),
    "fault": ("fault", "设备故障：请联系运维"),
}
COMPLETE_STATUS = "所有环节已完成：请长按录制键结束录制"
ENDED_STATUS = "设备就绪 · 上一场双录已封存"


def people_of(people_json: bytes | None) -> tuple[tuple[Person, ...], tuple[tuple[str, str], ...]]:
    """The people of a session's ``people.json`` (docs/people.md) as the screen shows them —
    customers in their roles, then the salesperson, each with the masked name and whether they
    are remote — and the ``(full name, masked name)`` pairs that mask names in captions.

    A person whose role or name cannot be shown is left out (and logged without the name); a
    file that is too large or not JSON shows nobody."""
    if not people_json:
        return (), ()
    if len(people_json) > MAX_PEOPLE_JSON:
        log.warning("people.json is %d bytes, more than %d: the screen shows nobody",
                    len(people_json), MAX_PEOPLE_JSON)
        return (), ()
    try:
        data = json.loads(people_json)
    except (ValueError, UnicodeDecodeError):
        log.warning("people.json is not JSON: the screen shows nobody")
        return (), ()
    if not isinstance(data, dict):
        return (), ()
    listed: list[tuple[str, Any, Any]] = []
    customers = data.get("customers")
    for customer in customers if isinstance(customers, list) else []:
        if isinstance(customer, dict):
            listed.append((customer.get("role"), customer.get("name"), customer.get("remote")))
    salesperson = data.get("salesperson")
    if isinstance(salesperson, dict):
        listed.append(("salesperson", salesperson.get("name"), salesperson.get("remote")))
    people, names = [], []
    for role, name, remote in listed[:MAX_PEOPLE]:
        if role not in ROLES or not isinstance(name, str):
            log.warning("people.json: a person with role %r cannot be shown", role)
            continue
        try:
            person = Person.of(role, name, remote is True)
        except ViewError as exc:
            log.warning("people.json: the %s cannot be shown: %s", role, exc)
            continue
        people.append(person)
        names.append((name.strip(), person.masked_name))
    return tuple(people), tuple(names)


def needs_of(reasons: Iterable[str]) -> tuple[str, ...]:
    """The needs the refusal codes ``reasons`` stand for, in the screen's order."""
    wanted = {REASON_NEEDS[r] for r in reasons if r in REASON_NEEDS}
    return tuple(n for n in NEEDS if n in wanted)


def idle_view(snapshot: FlowSnapshot | None,
              refused: StartRefusal | None = None) -> DisplayView:
    """The screen between sessions: the unit's state in words and the hint to show the ticket
    (no hint while the unit cannot record); while a refusal of RECORD stands (``refused``),
    state ``refused`` with its words instead."""
    if refused is not None:
        return DisplayView(state="refused", status=refused.words, hint="")
    if snapshot is None:
        return DisplayView(status="正在启动…", hint="")
    state, status = IDLE_STATUS.get(snapshot.state, ("fault", f"设备状态：{snapshot.state}"))
    if state == "idle" and snapshot.last_summary is not None:
        status = ENDED_STATUS
    return DisplayView(state=state, status=status, hint=IDLE_HINT if state == "idle" else "")
