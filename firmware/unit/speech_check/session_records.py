"""A closed session as the check reads it from the chain (signed, so the check's time ranges
are the ones the unit recorded): the nodes and their times, the unit's own prompts, the verdict
at SESSION_END, and what was sealed about the session after it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from firmware.evidence import records
from firmware.evidence.chain import file_records, ledger_paths

STREAM = "speech_check"


@dataclass(frozen=True)
class Span:
    name: str          # a node id
    start_ns: int
    end_ns: int


@dataclass
class SessionRecords:
    session_id: str
    ended: bool = False
    verdict: str | None = None            # SESSION_END's quality verdict
    end_ns: int | None = None             # when SESSION_END was written
    nodes: list[Span] = field(default_factory=list)
    prompts: list[Span] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)   # file paths sealed for the session
    checked_seq: int | None = None        # a speech check already sealed (its record)

    def node_at(self, t_ns: int) -> str | None:
        for node in self.nodes:
            if node.start_ns <= t_ns <= node.end_ns:
                return node.name
        return None


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_session(spool_root: Path | str, session_id: str, from_seq: int = 0) -> SessionRecords:
    """The records of ``session_id``, reading the ledger from the file that holds
    ``from_seq`` (a record written while the session ran) onwards."""
    paths = ledger_paths(spool_root)
    start = 0
    for i, path in enumerate(paths):
        if path.stem.isdigit() and int(path.stem) <= from_seq:
            start = i
    found = SessionRecords(session_id)
    open_nodes: dict[str, int] = {}
    for path in paths[start:]:
        for rec in file_records(path):
            if rec.session != session_id:
                continue
            found.covered.update(f.path for f in rec.files)
            _sort(found, rec, open_nodes)
    end = found.end_ns
    for name, start_ns in open_nodes.items():     # a node still running when the session ended
        if end is not None:
            found.nodes.append(Span(name, start_ns, end))
    found.nodes.sort(key=lambda n: n.start_ns)
    return found


def _sort(found: SessionRecords, rec, open_nodes: dict[str, int]) -> None:
    data = rec.data
    if rec.type == records.SESSION_END:
        found.ended = True
        found.end_ns = rec.body["mono_ns"]
        quality = data.get("quality") if isinstance(data.get("quality"), dict) else {}
        verdict = quality.get("verdict")
        found.verdict = verdict if isinstance(verdict, str) else None
    elif rec.type == records.SEGMENT and data.get("stream") == STREAM:
        found.checked_seq = rec.seq
    elif rec.type == records.EVENT:
        kind, node = data.get("kind"), data.get("node")
        if not isinstance(node, str):
            return
        if kind == "node_start" and _int(data.get("at_ns")) is not None:
            open_nodes[node] = data["at_ns"]
        elif kind in ("node_end", "node_abandoned") and node in open_nodes:
            start = open_nodes.pop(node)
            end = _int(data.get("end_ns")) or rec.body["mono_ns"]
            found.nodes.append(Span(node, start, end))
        elif kind == "prompt":
            start, end = _int(data.get("start_ns")), _int(data.get("end_ns"))
            if start is not None and end is not None and end > start:
                found.prompts.append(Span(node, start, end))
