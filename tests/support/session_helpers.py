"""Helpers for session tests: waiting on the flow, reading a session's records."""
from __future__ import annotations

import time

from firmware.unit.appliance import Appliance


def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.03)


def session_events(app: Appliance, session_id: str, kind: str | None = None) -> list[dict]:
    """The EVENT data of a session, from the ledger on disk."""
    from firmware.evidence.ledger_files import ledger_files, read_lines
    out = []
    for path in ledger_files(app.evidence.spool.ledger_dir):
        for ln in read_lines(path):
            r = ln.record
            if r and r.session == session_id and r.type == "EVENT" and \
                    (kind is None or r.data["kind"] == kind):
                out.append(r.data)
    return out


def session_end(app: Appliance, session_id: str) -> dict:
    from firmware.evidence.ledger_files import ledger_files, read_lines
    for path in ledger_files(app.evidence.spool.ledger_dir):
        for ln in read_lines(path):
            if ln.record and ln.record.session == session_id and ln.record.type == "SESSION_END":
                return ln.record.data
    raise AssertionError(f"no SESSION_END for {session_id}")


def drive(app: Appliance, *, stop_at: str | None = None, sign: bool = True,
          at_node=None) -> str:
    """Go through the bound script as a salesperson would: RECORD, NEXT at each node as soon
    as the flow accepts it, the sample signature at signature nodes; stop (hold RECORD) at
    node ``stop_at`` or at the end. ``at_node(node_id)`` runs as each node starts. Returns the
    session id once the session has ended."""
    from drivers.sigpad import load_events
    from firmware.unit.hardware import SAMPLE_SIGNATURE
    flow, panel, clock = app.flow, app.hardware.panel, app.clock
    panel.press("RECORD", 0.1)
    wait_for(lambda: flow.active is not None, what="session start")
    sid = flow.active.session_id
    for node in flow.active.binding.template.nodes:
        wait_for(lambda: bool(flow.active.nodes) and flow.active.nodes[-1].id == node.id,
                 what=f"node {node.id}")
        if at_node is not None:
            at_node(node.id)
        if node.id == stop_at:
            break
        if sign and "signature" in node.requires:
            wait_for(lambda: not app.prompter_playing())
            _info, events = load_events(SAMPLE_SIGNATURE)
            app.hardware.pad.play(events, wait=True)
        wait_for(lambda: flow.refusal(clock.monotonic_ns()) is None, timeout=120,
                 what=f"NEXT accepted at {node.id}")
        panel.press("NEXT", 0.05)
    if stop_at is None:
        wait_for(lambda: flow.active.complete)
    panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
    wait_for(lambda: flow.active is None, what="session end")
    return sid
