"""Who is in frame and which document is shown (issue 14 §3-4), part by part: the presence
part against face-count samples as the live analysis writes them, the document reader against
photos of rendered documents read by the real OCR in the vision worker."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import threading

import cv2
import pytest

from drivers.camera.documents import (ApplicationForm, IdCard, sample_application_form,
                                      sample_id_card)
from drivers.camera.scenes import SceneRenderer
from drivers.vision import VisionService
from firmware.unit.session.binding import Binding
from firmware.unit.session.document_check import DocumentCheckPart, number_shape
from firmware.unit.session.parts import SessionContext
from firmware.unit.session.presence import PresencePart
from firmware.unit.session.quality import NodeOutcome
from firmware.unit.session.script import SCRIPTS_DIR, load_template
from firmware.unit.session.session_end import VIDEO_SAMPLES

S = 1_000_000_000
CARD = sample_id_card()
FORM = sample_application_form()


class Chain:
    """What a part writes through its context, kept in order; ``post`` queues for the test
    to run as the flow's thread would."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.sealed: dict[str, bytes] = {}
        self.posted: list = []
        self.posted_any = threading.Event()

    def event(self, kind, data):
        self.events.append((kind, data))

    def seal(self, name, content, data):
        self.sealed[name] = content
        return _Sealed(name)

    def post(self, fn):
        self.posted.append(fn)
        self.posted_any.set()

    def run_posted(self):
        while self.posted:
            self.posted.pop(0)()

    def kinds(self, kind):
        return [d for k, d in self.events if k == kind]


@dataclasses.dataclass
class _File:
    path: str


class _Sealed:
    def __init__(self, name):
        self.files = [_File(f"sessions/s1/{name}")]


def context(chain: Chain, binding: Binding) -> SessionContext:
    return SessionContext(session_id="s1", binding=binding, event=chain.event, seal=chain.seal,
                          post=chain.post, signal=lambda kind: None, now_ns=lambda: 0,
                          wall_ns=lambda: 0)


@pytest.fixture(scope="module")
def template():
    return load_template(SCRIPTS_DIR / "bank-life.toml")


def people_json(*customers, application="TB2025061800123") -> bytes:
    return json.dumps({"application_number": application, "customers": list(customers)},
                      ensure_ascii=False).encode()


def person(role, name, number, **extra):
    return {"role": role, "name": name, "id_type": "resident_id", "id_number": number, **extra}


# -- presence ------------------------------------------------------------------------------------
def run_presence(template, faces: list[int], *, expected=2, seconds=5, mode="av",
                 times: list[int] | None = None):
    chain = Chain()
    ctx = context(chain, Binding(template, mode=mode, counter_people=expected))
    ctx.nodes.append(NodeOutcome("consent", "同意", "consent", 0))
    part = PresencePart(seconds)
    part.session_started(ctx)
    samples = ctx.values.setdefault(VIDEO_SAMPLES, [])
    for i, n in enumerate(faces):
        t = times[i] if times is not None else 100 * S + i * S
        samples.append({"t": t, "faces": n, "brightness": 120})
        part.tick(ctx, None, 0)
    part.session_ending(ctx)
    return chain, part.findings(ctx)


def test_everyone_in_frame_is_no_finding(template):
    chain, found = run_presence(template, [2] * 20)
    assert found == [] and chain.events == []


def test_a_customer_gone_for_ten_seconds_is_person_missing_with_its_range(template):
    chain, found = run_presence(template, [2] * 5 + [1] * 10 + [2] * 5)
    assert [(f.check, f.node, f.start_ns, f.end_ns) for f in found] == \
        [("person_missing", "consent", 105 * S, 115 * S)]
    assert "1 of 2 people" in found[0].detail and "10 s" in found[0].detail
    missing, back = chain.kinds("person_missing"), chain.kinds("person_back")
    assert missing == [{"start_ns": 105 * S, "node": "consent", "expected": 2, "seen": 1}]
    assert back == [{"start_ns": 105 * S, "end_ns": 115 * S, "expected": 2}]
    # the live event came when the absence reached the threshold, before everyone was back
    assert chain.events.index(("person_missing", missing[0])) \
        < chain.events.index(("person_back", back[0]))


def test_a_glance_away_shorter_than_the_threshold_is_not_a_finding(template):
    chain, found = run_presence(template, [2] * 5 + [1] * 4 + [2] * 5)
    assert found == [] and chain.events == []


def test_time_the_analysis_missed_is_not_counted_as_absent(template):
    # one sample without the customer (a card held up), then none for 9 s (the analysis was
    # late: the vision worker busy reading that card), then both faces again
    times = [100 * S + i * S for i in range(5)] + [105 * S, 114 * S, 115 * S]
    chain, found = run_presence(template, [2] * 5 + [1, 2, 2], times=times)
    assert found == [] and chain.events == []


def test_exactly_the_threshold_counts(template):
    _, found = run_presence(template, [2] * 3 + [1] * 5 + [2] * 3)
    assert [(f.start_ns, f.end_ns) for f in found] == [(103 * S, 108 * S)]


def test_an_absence_still_open_at_the_end_is_closed_at_the_last_sample(template):
    chain, found = run_presence(template, [2] * 3 + [0] * 6)
    assert [(f.start_ns, f.end_ns) for f in found] == [(103 * S, 109 * S)]
    assert "0 of 2 people" in found[0].detail
    assert chain.kinds("person_back")[0]["end_ns"] == 109 * S


def test_more_faces_than_expected_is_not_missing(template):
    _, found = run_presence(template, [3] * 10)
    assert found == []


def test_two_absences_are_two_findings(template):
    _, found = run_presence(template, [1] * 6 + [2] * 2 + [1] * 7, seconds=5)
    assert [(f.start_ns, f.end_ns) for f in found] == [(100 * S, 106 * S), (108 * S, 115 * S)]


@pytest.mark.parametrize("expected, mode", [(None, "av"), (2, "audio_photo")])
def test_no_expectation_or_no_video_means_no_check(template, expected, mode):
    _, found = run_presence(template, [0] * 20, expected=expected, mode=mode)
    assert found == []


def test_the_threshold_must_be_positive():
    with pytest.raises(ValueError, match="missing_seconds"):
        PresencePart(0)


# -- documents -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vision():
    with VisionService(threads=2) as service:
        yield service


def photo(scene: str, **content) -> bytes:
    renderer = SceneRenderer(1920, 1080, scene=scene)
    renderer.set_scene(scene, **content)
    ok, jpeg = cv2.imencode(".jpg", renderer.render(1, 0), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return jpeg.tobytes()


def node_of(template, kind):
    return next(n for n in template.nodes if n.kind == kind)


def read_document(template, read_text, jpeg: bytes, node_kind: str, people: bytes):
    chain = Chain()
    ctx = context(chain, Binding(template, people_json=people))
    part = DocumentCheckPart(read_text)
    part.session_started(ctx)
    node = node_of(template, node_kind)
    run = NodeOutcome(node.id, node.title, node.kind, 10 * S, end_ns=20 * S)
    ctx.nodes.append(run)
    part.on_photo(ctx, node, run, f"sessions/s1/{node.id}-photo-1.jpg", jpeg)
    assert chain.posted_any.wait(120), "the document was never read"
    chain.run_posted()
    part.session_ending(ctx)
    found = part.findings(ctx)
    part.session_ended(ctx, {})
    return chain, found


SALE = people_json(person("policyholder", CARD.name, CARD.number),
                   person("insured", "王子涵", "310115201508211022"),
                   application=FORM.application_no)


def test_the_right_id_card_matches_and_only_a_digest_goes_on_the_chain(template, vision):
    chain, found = read_document(template, vision.read_text, photo("id_card"), "show_id", SALE)
    assert found == []
    (event,) = chain.kinds("document_check")
    assert event["outcome"] == "match"
    assert event["fields"] == {"name": "match", "number": "match"}
    assert event["node"] == node_of(template, "show_id").id
    (name, content), = chain.sealed.items()
    assert event["read_file"].endswith(name) and event["digest"] == \
        hashlib.sha256(content).hexdigest()
    private = json.loads(content)
    assert private["read"] == {"name": CARD.name, "number": CARD.number}
    # personal data only in the sealed file, never in the record
    assert CARD.number not in json.dumps(event, ensure_ascii=False)
    assert CARD.name not in json.dumps(event, ensure_ascii=False)


def test_the_insureds_card_matches_the_insured(template, vision):
    insured = IdCard(name="王子涵", sex="女", ethnicity="汉", birth=CARD.birth,
                     address=CARD.address, number="310115201508211022")
    chain, found = read_document(template, vision.read_text, photo("id_card", card=insured),
                                 "show_id", SALE)
    assert found == [] and chain.kinds("document_check")[0]["outcome"] == "match"


def test_another_persons_card_is_id_mismatch(template, vision):
    other = dataclasses.replace(CARD, number="110101199003074514")
    chain, found = read_document(template, vision.read_text, photo("id_card", card=other),
                                 "show_id", SALE)
    assert [(f.check, f.node) for f in found] == [("id_mismatch", node_of(template,
                                                                          "show_id").id)]
    assert "number" in found[0].detail
    assert (found[0].start_ns, found[0].end_ns) == (10 * S, 20 * S)
    assert chain.kinds("document_check")[0]["fields"]["number"] == "mismatch"


def test_the_sales_application_form_matches(template, vision):
    chain, found = read_document(template, vision.read_text, photo("application_form"),
                                 "documents", SALE)
    assert found == []
    assert chain.kinds("document_check")[0]["fields"] == {"application_no": "match"}


def test_another_sales_application_form_is_document_mismatch(template, vision):
    other = ApplicationForm(application_no="TB2025061800999")
    chain, found = read_document(template, vision.read_text,
                                 photo("application_form", form=other), "documents", SALE)
    assert [f.check for f in found] == ["document_mismatch"]
    assert chain.kinds("document_check")[0]["outcome"] == "mismatch"


def test_a_photo_with_no_document_is_unreadable_not_a_finding(template, vision):
    chain, found = read_document(template, vision.read_text, photo("two_people"), "show_id",
                                 SALE)
    assert found == []
    assert chain.kinds("document_check")[0]["outcome"] == "unreadable"


def test_a_failed_read_is_said_on_the_chain_and_the_session_goes_on(template):
    def broken(jpeg):
        raise TimeoutError("the vision worker did not answer")
    chain, found = read_document(template, broken, photo("id_card"), "show_id", SALE)
    assert found == [] and chain.sealed == {}
    assert chain.kinds("document_check") == [{
        "node": node_of(template, "show_id").id,
        "photo": f"sessions/s1/{node_of(template, 'show_id').id}-photo-1.jpg",
        "outcome": "not_read", "error": "TimeoutError"}]


def test_without_a_sale_nothing_is_read(template):
    chain = Chain()
    ctx = context(chain, Binding(template))
    part = DocumentCheckPart(lambda jpeg: pytest.fail("read without a sale"))
    part.session_started(ctx)
    node = node_of(template, "show_id")
    part.on_photo(ctx, node, NodeOutcome(node.id, node.title, node.kind, 0), "p.jpg", b"")
    part.session_ending(ctx)
    assert part.findings(ctx) == [] and chain.events == []


def test_a_read_finished_after_the_session_is_dropped(template):
    release = threading.Event()

    def slow(jpeg):
        release.wait(30)
        return []
    chain = Chain()
    ctx = context(chain, Binding(template, people_json=SALE))
    part = DocumentCheckPart(slow)
    part.session_started(ctx)
    node = node_of(template, "show_id")
    part.on_photo(ctx, node, NodeOutcome(node.id, node.title, node.kind, 0), "p.jpg", b"")
    part.session_ended(ctx, {})
    release.set()
    part._threads[0].join(30)
    assert chain.posted == [] and chain.events == []


@pytest.mark.parametrize("number, pattern", [("TB2025061800123", r"[A-Za-z]{2}\d{13}"),
                                             ("123456", r"\d{6}"),
                                             ("A1B22C333", r"[A-Za-z]{1}\d{1}[A-Za-z]{1}\d{2}"
                                                           r"[A-Za-z]{1}\d{3}")])
def test_application_numbers_are_looked_for_by_their_shape(number, pattern):
    assert number_shape(number) == pattern
