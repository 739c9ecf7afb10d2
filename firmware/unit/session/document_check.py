"""Which document is shown: the photo taken at an ID node is read (OCR in the vision worker,
on a thread of its own) and the name and citizen number compared with the sale's customers;
the photo at a documents node is read for the 投保单's application number and compared with
the sale's. The chain gets an EVENT ``document_check`` with the outcome per field and a salted
digest; what was read (personal data) is sealed as a file, encrypted like the media. A mismatch
is a finding (``id_mismatch``, ``document_mismatch``) naming the node.

A remote party's photo at the ID node (:mod:`~firmware.unit.session.remote_photos`) is read the
same way and compared with the people the party holds (its seats among the sale's customers):
its EVENT and sealed file name the party (``party``; ``NODE-read-PARTY-N.json``), and its
mismatch is an ``id_mismatch`` whose detail names the party. The counter's records carry no
``party``.

A document that cannot be read is recorded as ``unreadable`` and is not a finding: the photo is
on the chain for a person to look at. Reading never holds up the session; a read still running
when the session ends is waited for (bounded) so that its result belongs to the session.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from functools import partial
from typing import Callable

from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.photos import ID_NODE
from firmware.unit.session.quality import NodeOutcome, QualityFinding
from firmware.unit.session.script import ScriptNode
from firmware.unit.understanding.documents import (DocumentCheck, check_application_form,
                                                   check_id_card, read_application_form,
                                                   read_id_card)

log = logging.getLogger(__name__)

READ_WAIT_S = 30.0           # at the session's end, for a read still running
FORM_NODE = "documents"


def number_shape(application_no: str) -> str:
    """A pattern for application numbers shaped like ``application_no`` (the same runs of
    letters and digits), so another sale's 投保单 is read as a different number, not missed."""
    parts = []
    for run in re.findall(r"[A-Za-z]+|[0-9]+", application_no):
        parts.append(rf"[A-Za-z]{{{len(run)}}}" if run[0].isalpha() else rf"\d{{{len(run)}}}")
    return "".join(parts)


class DocumentCheckPart(SessionPart):
    """``read_text(jpeg) -> lines``: the OCR (the vision worker's)."""

    name = "documents_read"

    def __init__(self, read_text: Callable[[bytes], list]) -> None:
        self._read_text = read_text
        self._customers: list[dict] = []
        self._people: list[dict | None] = []
        self._application_no = ""
        self._lock = threading.Lock()
        self._ctx: SessionContext | None = None
        self._threads: list[threading.Thread] = []
        self._pending: list[tuple[str, str | None, str, DocumentCheck | str]] = []
        self._checks: list[tuple[str, str | None, DocumentCheck]] = []

    def session_started(self, ctx: SessionContext) -> None:
        self._customers, self._application_no = _sale(ctx.binding.people_json)
        self._people = _people(ctx.binding.people_json)
        with self._lock:
            self._ctx, self._threads, self._pending, self._checks = ctx, [], [], []

    def on_photo(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome, path: str,
                 jpeg: bytes, *, party: str | None = None, seats: tuple[int, ...] = ()) -> None:
        """PhotoPart's hook: read the photo if this node shows a document the sale names; a
        remote ``party``'s ID against the customers of its ``seats``."""
        if party is not None:
            people = _held(self._people, seats)
            if node.kind != ID_NODE or not people:
                return
            compare = partial(self._id_card, people=people)
        elif node.kind == ID_NODE and self._customers:
            compare = partial(self._id_card, people=self._customers)
        elif node.kind == FORM_NODE and self._application_no:
            compare = self._form
        else:
            return
        worker = threading.Thread(target=self._read,
                                  args=(ctx, run.id, party, path, jpeg, compare),
                                  name=f"read-{run.id}", daemon=True)
        with self._lock:
            self._threads.append(worker)
        worker.start()

    def _read(self, ctx: SessionContext, node_id: str, party: str | None, path: str,
              jpeg: bytes, compare) -> None:
        """On the reading thread: the result is kept for the flow's thread to record."""
        try:
            result: DocumentCheck | str = compare(self._read_text(jpeg))
        except Exception as exc:   # the OCR failed: said on the chain, the session goes on
            log.warning("reading the document in %s failed: %s", path, exc)
            result = type(exc).__name__
        with self._lock:
            if ctx is not self._ctx:
                return   # that session is over
            self._pending.append((node_id, party, path, result))
        ctx.post(lambda: self._flush(ctx))

    def _flush(self, ctx: SessionContext) -> None:
        """On the flow's thread: each result read so far sealed and on the chain."""
        with self._lock:
            if ctx is not self._ctx:
                return
            pending, self._pending = self._pending, []
        for node_id, party, photo, result in pending:
            whose = {} if party is None else {"party": party}
            if isinstance(result, str):
                ctx.event("document_check", {"node": node_id, **whose, "photo": photo,
                                             "outcome": "not_read", "error": result})
                continue
            n = sum(1 for other, p, _ in self._checks if (other, p) == (node_id, party)) + 1
            name = f"{node_id}-read-{n}.json" if party is None \
                else f"{node_id}-read-{party}-{n}.json"
            sealed = ctx.seal(name, result.private_bytes(),
                              {"stream": "document_read", "node": node_id, **whose})
            ctx.event("document_check", {**result.public, "node": node_id, **whose,
                                         "photo": photo, "read_file": sealed.files[0].path})
            self._checks.append((node_id, party, result))

    def _id_card(self, lines, people: list[dict]) -> DocumentCheck:
        """The card read against ``people``: the one whose number (else name) it shows, else
        the first (so another person's card is a mismatch)."""
        reading = read_id_card(lines)
        person = (next((c for c in people if c["id_number"] == reading.number), None)
                  or next((c for c in people if c["name"] == reading.name), None)
                  or people[0])
        return check_id_card(reading, name=person["name"], number=person["id_number"])

    def _form(self, lines) -> DocumentCheck:
        reading = read_application_form(lines, number_shape(self._application_no))
        return check_application_form(reading, application_no=self._application_no)

    def session_ending(self, ctx: SessionContext) -> None:
        """Reads still running are waited for (bounded) and recorded now, before the
        findings and the SESSION_END."""
        with self._lock:
            threads = list(self._threads)
        for worker in threads:
            worker.join(READ_WAIT_S)
            if worker.is_alive():
                log.warning("reading a document of session %s took over %.0f s: its result "
                            "is not part of the session", ctx.session_id, READ_WAIT_S)
        self._flush(ctx)

    def findings(self, ctx: SessionContext) -> list[QualityFinding]:
        out = []
        for node_id, party, check in self._checks:
            if check.finding is None:
                continue
            run = next((r for r in ctx.nodes if r.id == node_id), None)
            wrong = sorted(k for k, v in check.public["fields"].items() if v == "mismatch")
            by = "" if party is None else f" by remote party {party}"
            out.append(QualityFinding(
                check.finding, f"the {check.public['document'].replace('_', ' ')} shown{by} "
                f"does not match the sale ({', '.join(wrong)})", node_id,
                run.start_ns if run else None, run.end_ns if run else None))
        return out

    def session_ended(self, ctx: SessionContext, summary: dict) -> None:
        with self._lock:
            self._ctx, self._pending = None, []


def _sale(people_json: bytes | None) -> tuple[list[dict], str]:
    """The customers at the counter (name, ID number) and the application number, from the
    binding's people.json (already checked when the session was bound)."""
    if not people_json:
        return [], ""
    data = json.loads(people_json)
    seen, customers = set(), []
    for c in data.get("customers", []):
        if c.get("remote") or c.get("id_type", "resident_id") != "resident_id":
            continue
        if c.get("id_number") not in seen:
            seen.add(c.get("id_number"))
            customers.append({"name": c.get("name", ""), "id_number": c.get("id_number", "")})
    return customers, str(data.get("application_number") or "")


def _people(people_json: bytes | None) -> list[dict | None]:
    """Every customer of people.json in its order (a remote party's seats index it), as
    (name, ID number) when their document is a resident ID card, else None."""
    if not people_json:
        return []
    return [{"name": c.get("name", ""), "id_number": c.get("id_number", "")}
            if c.get("id_type", "resident_id") == "resident_id" else None
            for c in json.loads(people_json).get("customers", [])]


def _held(people: list[dict | None], seats: tuple[int, ...]) -> list[dict]:
    """The people at ``seats`` whose ID card can be read, each once."""
    held, seen = [], set()
    for seat in seats:
        person = people[seat] if isinstance(seat, int) and 0 <= seat < len(people) else None
        if person is not None and person["id_number"] not in seen:
            seen.add(person["id_number"])
            held.append(person)
    return held
