"""The salesperson's staff badge, shown to the camera at the credentials node and checked
against the back office's signed roster: an accepted badge binds the salesperson (sealed as
``salesperson.json``); a refused one is on the chain with its reason; NEXT waits for a badge."""
from __future__ import annotations

import datetime as dt
import json
import logging

from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.script import ScriptNode

log = logging.getLogger(__name__)

SCAN_EVERY_NS = 1_000_000_000


class BadgePart(SessionPart):
    name = "badge"

    def __init__(self, reader, camera) -> None:
        self._reader = reader
        self._camera = camera
        self._next_ns = 0
        self._badge: dict | None = None
        self._refused: set[str] = set()

    def session_started(self, ctx: SessionContext) -> None:
        self._badge, self._refused, self._next_ns = None, set(), 0

    def tick(self, ctx: SessionContext, node: ScriptNode | None, now_ns: int) -> None:
        if node is None or node.kind != "show_credentials" or self._badge is not None \
                or now_ns < self._next_ns:
            return
        self._next_ns = now_ns + SCAN_EVERY_NS
        wall = dt.datetime.fromtimestamp(ctx.wall_ns() / 1e9, dt.timezone.utc)
        try:
            result = self._reader.read_camera(self._camera, wall.date())
        except Exception as exc:  # the camera is lost: the GAP says so; try again next second
            log.info("badge scan: %s", exc)
            return
        if result.status == "no_code":
            return
        run = ctx.run
        if not result.ok:
            if result.status not in self._refused:
                self._refused.add(result.status)
                ctx.signal("refused")
                ctx.event("badge_refused", {"node": run.id, **result.summary()})
            return
        self._badge = result.summary()
        rec = ctx.seal("salesperson.json",
                       json.dumps({"staff_id": result.staff_id,
                                   "identity": result.identity.to_dict()},
                                  ensure_ascii=False, sort_keys=True).encode("utf-8"),
                       {"stream": "people", "node": run.id})
        run.files.append(rec.files[0].path)
        ctx.event("badge", {"node": run.id, **self._badge})
        ctx.signal("ok")

    def refusal(self, ctx, node, run, now_ns) -> str | None:
        if node.kind == "show_credentials" and self._badge is None:
            return "missing_badge"
        return None
