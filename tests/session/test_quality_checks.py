"""The session's quality checks on facts made by hand: time the live analysis missed is not
counted as nobody in frame, and an answer the answers part understood is not "silent"."""
from __future__ import annotations

from firmware.unit.session.quality import NodeOutcome, SessionFacts, check_session
from firmware.unit.session.script import SCRIPTS_DIR, load_template

S = 1_000_000_000


def facts(video: list[dict], *, understood=frozenset(), voiced=0.0) -> SessionFacts:
    template = load_template(SCRIPTS_DIR / "bank-life.toml")
    nodes, t = [], 0
    for node in template.nodes:
        run = NodeOutcome(node.id, node.title, node.kind, t, t + 30 * S, prompt_end_ns=t + 5 * S,
                          photos=["p.jpg"], signature="s.png")
        nodes.append(run)
        t += 30 * S
    return SessionFacts(template=template, nodes=nodes, video=video,
                        voiced=lambda _start, _end: voiced, gaps=[], segments=[(0, t)],
                        frame_ns=S // 15, clock_synced_start=True, clock_synced_end=True,
                        understood=frozenset(understood))


def samples(faces: list[int], times: list[int]) -> list[dict]:
    return [{"t": t, "faces": n, "brightness": 120} for n, t in zip(faces, times)]


def test_a_face_missing_for_five_samples_is_no_face():
    video = samples([1] * 3 + [0] * 5 + [1] * 3, [i * S for i in range(11)])
    found = [(f.check, f.start_ns, f.end_ns) for f in check_session(facts(video, voiced=1.0))]
    assert found == [("no_face", 3 * S, 8 * S)]


def test_time_the_samples_missed_is_not_counted_as_no_face():
    # one sample without a face (a card held up), then none for 9 s, then faces again
    video = samples([1, 1, 0, 1, 1], [0, S, 2 * S, 11 * S, 12 * S])
    assert [f.check for f in check_session(facts(video, voiced=1.0))] == []


def test_an_understood_answer_is_not_silent_an_unheard_one_is():
    video = samples([1] * 3, [0, S, 2 * S])
    quiet = [(f.check, f.node) for f in check_session(facts(video, voiced=0.05))]
    assert quiet == [("silent_answer", "consent"), ("silent_answer", "confirm")]
    understood = check_session(facts(video, voiced=0.05, understood={"consent"}))
    assert [(f.check, f.node) for f in understood] == [("silent_answer", "confirm")]
