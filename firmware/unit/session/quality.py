"""Quality checks at session close. Each failure is a finding with its node and time range; a
session with findings is flagged for review. It still seals and syncs: nothing is hidden."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from firmware.unit.session.node_duties import SalePerson, node_duties
from firmware.unit.session.script import ScriptTemplate

NO_FACE_SECONDS = 3          # this long with no face in frame is a finding
DARK_BRIGHTNESS = 25         # mean brightness (0-255) below this: lens covered or too dark
DARK_SECONDS = 2
SILENT_ANSWER_VOICED = 0.15  # less than this share of voiced 100 ms windows: a silent answer


@dataclass(frozen=True)
class QualityFinding:
    check: str
    detail: str
    node: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None

    def as_record(self) -> dict:
        return asdict(self)


@dataclass
class NodeOutcome:
    """What happened at one node, as the flow saw it (CLOCK_MONOTONIC ns)."""

    id: str
    title: str
    kind: str
    start_ns: int
    end_ns: int | None = None
    prompt_end_ns: int | None = None
    photos: list[str] = field(default_factory=list)
    signature: str | None = None
    files: list[str] = field(default_factory=list)   # other evidence (the salesperson's badge)

    def as_record(self) -> dict:
        evidence = self.photos + ([self.signature] if self.signature else []) + self.files
        return {"id": self.id, "title": self.title, "kind": self.kind,
                "start_ns": self.start_ns, "end_ns": self.end_ns, "evidence": evidence}


@dataclass
class SessionFacts:
    """Everything the checks look at."""

    template: ScriptTemplate
    nodes: list[NodeOutcome]
    video: list[dict]                  # analysis samples: t, faces, brightness
    voiced: callable                   # voiced_fraction(start_ns, end_ns) -> float | None
    gaps: list[tuple[int, int, str]]   # recorded GAPs: start, end, kind
    segments: list[tuple[int, int]]    # video segments: first_ns, last_ns, in order
    frame_ns: int
    clock_synced_start: bool
    clock_synced_end: bool
    mode: str = "av"
    understood: frozenset[str] = frozenset()   # nodes whose answer was heard as a clear yes
    people: tuple[SalePerson, ...] | None = None   # the sale's customers (None: unknown)


def _runs(samples: list[dict], bad, min_ns: int) -> list[tuple[int, int]]:
    """Time ranges where ``bad(sample)`` holds for at least ``min_ns``. A range ends at the next
    good sample, but never more than a sample period after the last bad one: time the
    samples missed (the analysis was late) is not counted as bad."""
    out, start, last = [], None, None
    for s in samples:
        if bad(s):
            start = s["t"] if start is None else start
            last = s["t"]
        else:
            end = min(s["t"], last + 1_000_000_000) if start is not None else None
            if start is not None and end - start >= min_ns:
                out.append((start, end))
            start = None
    if start is not None and last - start >= min_ns - 1_000_000_000:
        out.append((start, last + 1_000_000_000))
    return out


def _node_at(nodes: list[NodeOutcome], t: int) -> str | None:
    for n in nodes:
        if n.start_ns <= t and (n.end_ns is None or t < n.end_ns):
            return n.id
    return None


def check_session(facts: SessionFacts) -> list[QualityFinding]:
    found: list[QualityFinding] = []
    by_id = {n.id: n for n in facts.nodes}
    for node in facts.template.nodes:
        run = by_id.get(node.id)
        pad = node_duties(node, facts.people).counter_signs    # as NEXT asked for the pad
        if run is None or run.end_ns is None:
            found.append(QualityFinding("node_missing", f"node {node.id} ({node.title}) was "
                                        "not completed", node.id,
                                        run.start_ns if run else None, None))
            for need, check in (("signature", "missing_signature"), ("photo", "missing_photo")):
                if need in node.requires and (pad or need != "signature") and not (
                        run and (run.signature if need == "signature" else run.photos)):
                    found.append(QualityFinding(check, f"no {need} was captured", node.id,
                                                run.start_ns if run else None, None))
            continue
        length = (run.end_ns - run.start_ns) / 1e9
        if length < node.min_seconds:
            found.append(QualityFinding("node_too_short", f"{length:.1f} s, the template asks "
                                        f"for at least {node.min_seconds:g} s", node.id,
                                        run.start_ns, run.end_ns))
        if "answer" in node.requires and run.prompt_end_ns is not None \
                and node.id not in facts.understood:  # understood: more than a sound
            start = run.prompt_end_ns
            end = min(run.end_ns, start + int(node.answer_seconds * 1e9))
            voiced = facts.voiced(start, end)
            if voiced is None or voiced < SILENT_ANSWER_VOICED:
                found.append(QualityFinding("silent_answer", "no clear answer was heard in the "
                                            "answer window", node.id, start, end))
        if pad and not run.signature:
            found.append(QualityFinding("missing_signature", "no signature was captured",
                                        node.id, run.start_ns, run.end_ns))
        if "photo" in node.requires and not run.photos:
            found.append(QualityFinding("missing_photo", "no photo was taken", node.id,
                                        run.start_ns, run.end_ns))
    if facts.mode == "av":
        for start, end in _runs(facts.video, lambda s: s["faces"] == 0,
                                NO_FACE_SECONDS * 1_000_000_000):
            found.append(QualityFinding("no_face", "nobody's face was in frame",
                                        _node_at(facts.nodes, start), start, end))
    for start, end in _runs(facts.video, lambda s: s["brightness"] < DARK_BRIGHTNESS,
                            DARK_SECONDS * 1_000_000_000):
        found.append(QualityFinding("camera_dark", "the camera was covered or too dark",
                                    _node_at(facts.nodes, start), start, end))
    for start, end, kind in facts.gaps:
        found.append(QualityFinding("media_gap", f"media lost ({kind})",
                                    _node_at(facts.nodes, start), start, end))
    for (_, last), (first, _) in zip(facts.segments, facts.segments[1:]):
        hole = first - last
        explained = any(g0 <= last + facts.frame_ns and g1 >= first - facts.frame_ns
                        for g0, g1, _ in facts.gaps)
        if hole > facts.frame_ns * 3 // 2 and not explained:
            found.append(QualityFinding("unexplained_gap", f"{hole / 1e6:.0f} ms of video "
                                        "missing with no GAP record",
                                        _node_at(facts.nodes, last), last, first))
    if not (facts.clock_synced_start and facts.clock_synced_end):
        found.append(QualityFinding("clock_unsynced", "wall time was not NTP-synchronised; "
                                    "times rest on the unit's own clock"))
    return found
