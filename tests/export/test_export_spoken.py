"""`dualrec export` shows the text the unit spoke (issue 13): the session's sealed script.json
(encrypted to the insurer, as the unit seals it) read with the insurer's key into the report,
each node's prompt with the policy's facts and whether what played was that text; without
the key the report says the text is encrypted and shows none of it."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from html import escape
from pathlib import Path

import pytest

from drivers.clock import SimClock
from firmware.cli.export import run_export
from firmware.evidence.crypto import generate_insurer_key, load_insurer_public_key
from firmware.evidence.keys import DeviceKey
from firmware.evidence.store import Evidence
from firmware.office.export.export import export_session
from firmware.office.export.media import media_opener
from firmware.ticket import ticket_from_spec
from firmware.unit.binder import Binder, TicketBinder
from firmware.unit.session.script import load_templates

SPEC = Path(__file__).resolve().parents[2] / "firmware" / "samples" / "ticket-spec.json"
OTHER_TEXT = "这不是封存的话术"


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    """A ticket-bound session as the unit seals it: script.json (encrypted to the insurer), a
    prompt EVENT per node with the spoken text's hash, and at the last node a replay whose
    text is not the sealed one."""
    root = tmp_path_factory.mktemp("spoken")
    insurer = generate_insurer_key(root / "insurer")
    clock = SimClock(realtime=True)
    binder = Binder(load_templates(), clock, template="bank-life", mode="av")
    ticket = ticket_from_spec(json.loads(SPEC.read_text(encoding="utf-8")),
                              dt.datetime.now(dt.timezone.utc))
    binding = TicketBinder(binder).bind(ticket, "fingerprint")
    evidence = Evidence.open(root / "spool", DeviceKey.generate(), clock,
                             insurer_key=load_insurer_public_key(insurer.public_path))
    sid = evidence.start_session({"template": binding.template.as_record(), "mode": "av",
                                  "elder": False, "application_no": binding.application_no,
                                  "ticket": binding.ticket})
    evidence.seal_bytes(sid, "script.json", binding.script_json, {"stream": "script"})
    nodes = binding.template.nodes
    for index, node in enumerate(nodes):
        start = clock.monotonic_ns()
        evidence.event("node_start", {"node": node.id, "index": index, "title": node.title,
                                      "at_ns": start}, session_id=sid)
        texts = [binding.prompts[node.id]] + ([OTHER_TEXT] if index == len(nodes) - 1 else [])
        for replay, text in enumerate(texts):
            evidence.event("prompt", {"node": node.id, "replay": bool(replay),
                                      "text_sha256": hashlib.sha256(
                                          text.encode("utf-8")).hexdigest(),
                                      "audio_sha256": "1" * 64, "start_ns": start,
                                      "end_ns": start + 1_000_000, "completed": True},
                           session_id=sid)
        evidence.event("node_end", {"node": node.id, "start_ns": start,
                                    "end_ns": clock.monotonic_ns()}, session_id=sid)
    evidence.end_session(sid, {"quality": {"verdict": "pass", "findings": []}})
    evidence.close()
    session_dir = root / "spool" / "sessions" / sid
    return {"dir": session_dir, "binding": binding, "insurer": insurer, "ticket": ticket}


def test_the_script_is_sealed_encrypted(sealed):
    raw = (sealed["dir"] / "script.json").read_bytes()
    assert raw != sealed["binding"].script_json
    assert sealed["ticket"].insurer.encode("utf-8") not in raw


def test_with_the_key_the_report_shows_each_prompt_as_spoken(sealed, tmp_path):
    binding = sealed["binding"]
    result = export_session(sealed["dir"], tmp_path / "review",
                            opener=media_opener(sealed["insurer"].private_path))
    html = result.report.read_text(encoding="utf-8")
    assert "<h2>Spoken text</h2>" in html
    for node in binding.template.nodes:
        assert escape(binding.prompts[node.id]) in html, node.id
    assert "五万元" in html and escape(sealed["ticket"].insurer) in html
    for value in binding.facts.values():
        assert escape(value) in html
    assert binding.template.sha256 in html
    plays = html.count("yes (1 play)")
    assert plays == len(binding.template.nodes) - 1
    assert "1 of 2 plays spoke another text" in html


def test_without_the_key_no_text_is_shown(sealed, tmp_path):
    result = export_session(sealed["dir"], tmp_path / "review")
    html = result.report.read_text(encoding="utf-8")
    assert "<h2>Spoken text</h2>" in html and "--key" in html
    assert escape(sealed["ticket"].insurer) not in html
    assert escape(sealed["binding"].prompts[sealed["binding"].template.nodes[0].id]) not in html


def test_dualrec_export_with_key(sealed, tmp_path, capsys):
    out = tmp_path / "cli"
    code = run_export(sealed["dir"], out, sealed["insurer"].private_path)
    assert code == 0, capsys.readouterr().err
    html = (out / "report.html").read_text(encoding="utf-8")
    assert escape(sealed["binding"].prompts[sealed["binding"].template.nodes[0].id]) in html


def test_a_session_without_a_ticket_says_it_speaks_the_template(plain_session, tmp_path):
    html = export_session(plain_session.session_dir, tmp_path / "review").report.read_text(
        encoding="utf-8")
    assert "No spoken text is sealed" in html
