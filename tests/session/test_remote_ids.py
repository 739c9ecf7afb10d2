"""The ID each remote party shows to its own camera, part by part and without models (issue
17): a fresh picture sealed as the party's own photo and read against the people the party
holds, another person's card an ``id_mismatch`` naming the party, a stale or missing picture
recorded and not read. The OCR is a stand-in returning the lines a card shows; the real OCR
reads the real call's picture in tests/meet/test_remote_understanding.py."""
from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import numpy as np

from firmware.unit.session.document_check import DocumentCheckPart
from firmware.unit.session.photos import PhotoPart
from firmware.unit.session.quality import NodeOutcome
from firmware.unit.session.remote_photos import FRESH_NS, RemotePhotos
from tests.session.remote_fakes import (OTHER, PROMPT_END, S, TEMPLATE, WANG, ZHAO, Flow,
                                        Meeting, people)


def card_lines(name: str, number: str) -> list:
    """What the OCR reads off an ID card: the name and number rows, with their boxes."""
    def row(text: str, y: int):
        return SimpleNamespace(text=text, box=((60, y), (600, y), (600, y + 40), (60, y + 40)),
                               score=0.98)
    return [row(f"姓名 {name}", 70), row("性别 女 民族 汉", 150),
            row(f"公民身份号码 {number}", 530)]


class Recorder:
    """The counter's camera as PhotoPart uses it (``seal_photo``)."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def seal_photo(self, name: str, data: dict):
        self.flow._seal(f"{name}.jpg", b"counter-jpeg", {"stream": "photo", **data})
        return SimpleNamespace(files=[SimpleNamespace(path=f"sessions/s1/{name}.jpg")]), \
            b"counter-jpeg"


def run_id_node(shown: dict[str, str], *, frames: dict[str, int | None]):
    """The ID node of a sale where 赵敏 (seat 0) is remote and 王强 is at the counter; each
    party in ``frames`` has a picture that arrived that many ns before the photo (None: no
    picture yet) and shows the card whose number ``shown`` gives. What was recorded."""
    meeting = Meeting()
    flow = Flow(people(counter_customer=True), meeting)
    lines = {"counter": card_lines(*WANG)}
    for i, (party, age) in enumerate(frames.items()):
        call = meeting.admit(party, (0,))
        picture = np.full((48, 64, 3), 40 + i, np.uint8)   # a picture each (its JPEG differs)
        call.frame = None if age is None else (picture, PROMPT_END - age)
        lines[party] = card_lines(ZHAO[0], shown.get(party, ZHAO[1]))
    by_jpeg: dict[bytes, list] = {}
    read_done = threading.Semaphore(0)

    def read_text(jpeg: bytes) -> list:
        read_done.release()
        return by_jpeg[jpeg]
    documents = DocumentCheckPart(read_text)
    photographed = []

    def on_photo(ctx, node, run, path, jpeg, **whose):
        party = whose.get("party", "counter")
        by_jpeg[jpeg] = lines[party]
        photographed.append((party, whose.get("seats")))
        documents.on_photo(ctx, node, run, path, jpeg, **whose)
    photos = PhotoPart(Recorder(flow), on_photo=on_photo, remote=RemotePhotos())
    node = TEMPLATE.nodes[1]
    run = NodeOutcome(node.id, node.title, node.kind, 0, end_ns=PROMPT_END + 5 * S)
    flow.ctx.nodes.append(run)
    for part in (photos, documents):
        part.session_started(flow.ctx)
    photos.node_started(flow.ctx, node, run)
    run.prompt_end_ns = PROMPT_END - 2 * S
    photos.prompt_ended(flow.ctx, node, run, None)
    photos.tick(flow.ctx, node, PROMPT_END)
    for _ in photographed:
        assert read_done.acquire(timeout=30), "a photo was never read"
    flow.run_until(lambda: len(flow.kinds("document_check")) == len(photographed),
                   "every document check")
    documents.session_ending(flow.ctx)
    return flow, run, photographed, documents.findings(flow.ctx)


def test_each_fresh_remote_picture_is_sealed_as_the_partys_photo_and_read_against_its_people():
    flow, run, photographed, findings = run_id_node({}, frames={"p1": 200_000_000})
    assert photographed == [("counter", None), ("p1", (0,))]
    [photo] = flow.kinds("remote_photo")
    assert photo == {"node": "idcheck", "party": "p1", "age_ms": 200,
                     "photo": "sessions/s1/idcheck-photo-p1-1.jpg"}
    content, data = flow.sealed["idcheck-photo-p1-1.jpg"]
    assert content[:3] == b"\xff\xd8\xff"                      # a JPEG
    assert data == {"stream": "remote_photo", "node": "idcheck", "party": "p1",
                    "taken_ns": PROMPT_END - 200_000_000, "width": 64, "height": 48}
    assert run.photos == ["sessions/s1/idcheck-photo-1.jpg"]  # the counter's own
    assert run.files == ["sessions/s1/idcheck-photo-p1-1.jpg"]
    counter, remote = sorted(flow.kinds("document_check"), key=lambda d: "party" in d)
    assert "party" not in counter and counter["outcome"] == "match"
    assert remote["party"] == "p1" and remote["outcome"] == "match"
    assert remote["read_file"] == "sessions/s1/idcheck-read-p1-1.json"
    assert flow.sealed["idcheck-read-p1-1.json"][1] == {"stream": "document_read",
                                                        "node": "idcheck", "party": "p1"}
    assert findings == []
    records = json.dumps(flow.events, ensure_ascii=False)
    assert ZHAO[0] not in records and ZHAO[1] not in records and WANG[1] not in records


def test_another_persons_id_shown_by_a_party_is_an_id_mismatch_naming_it():
    flow, _, _, findings = run_id_node({"p1": OTHER}, frames={"p1": 0})
    [finding] = findings
    assert finding.check == "id_mismatch" and finding.node == "idcheck"
    assert "remote party p1" in finding.detail and "number" in finding.detail
    [remote] = [d for d in flow.kinds("document_check") if "party" in d]
    assert remote["fields"]["number"] == "mismatch"
    assert OTHER not in json.dumps(flow.events)


def test_a_stale_or_missing_picture_is_recorded_not_sealed_and_not_read():
    flow, run, photographed, findings = run_id_node(
        {}, frames={"p1": FRESH_NS + 1, "p2": None})
    assert photographed == [("counter", None)]
    assert sorted((e["party"], e["reason"], e["photo"]) for e in flow.kinds("remote_photo")) \
        == [("p1", "stale", None), ("p2", "no_picture", None)]
    assert run.files == [] and findings == []
    assert [n for n in flow.sealed if "p1" in n or "p2" in n] == []
