"""Issue 14 end to end on a simulated unit with the real voice and the real recogniser: the
customer's answers spoken into the simulated microphone (the unit's own Kokoro voice) refuse
NEXT until a clear yes, and after the session the post-session check finds what the
salesperson said wrongly or left out, seals it about the closed session, and destroys the
audio copy and its keys.

One session (module fixture) runs the whole story; each test looks at one part of it.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from firmware.evidence.crypto import MediaDecryptor, generate_insurer_key, load_insurer_private_key
from firmware.evidence.verify import verify_path
from firmware.unit.session.answers import NOTICE
from session_helpers import session_events, wait_for
from spoken_lines import silence

NOTICE_SHA = hashlib.sha256(NOTICE.encode("utf-8")).hexdigest()
STATEMENT = "本产品是保险产品，不是存款。这个产品保本保息，比存款利息高。"


def _answers(app, sid, node):
    return [e for e in session_events(app, sid, "answer") if e["node"] == node]


def _press_next(app, sid) -> str | None:
    """Press NEXT; the refusal's reason, or None when it was accepted."""
    presses = len([e for e in session_events(app, sid, "press") if e["button"] == "NEXT"])
    refusals = len(session_events(app, sid, "next_refused"))
    app.hardware.panel.press("NEXT", 0.05)
    wait_for(lambda: len([e for e in session_events(app, sid, "press")
                          if e["button"] == "NEXT"]) > presses, what="the NEXT press")
    app.flow.wait_idle(10)
    got = session_events(app, sid, "next_refused")
    return got[-1]["reason"] if len(got) > refusals else None


def _answer(kit, app, sid, node: str, attempt: int, line: np.ndarray | None) -> dict:
    """Wait for the node's prompt (play ``attempt``), say ``line`` (None: nothing), and wait
    for the answer's meaning on the chain."""
    kit.wait_prompts(app, sid, node, attempt, NOTICE_SHA)
    if line is not None:
        kit.say(app, np.concatenate([silence(0.3), line]))
    wait_for(lambda: len(_answers(app, sid, node)) >= attempt, timeout=120,
             what=f"answer {attempt} at {node}")
    return _answers(app, sid, node)[attempt - 1]


def _heard(app, insurer, sid) -> list[tuple[str, str, str]]:
    """(node, meaning, what was heard) of every answer so far (to explain a failure)."""
    with MediaDecryptor(load_insurer_private_key(insurer.private_path)) as media:
        return [(a["node"], a["meaning"], json.loads(media.open(
            app.evidence.spool.root / a["heard_file"]))["heard"])
            for a in session_events(app, sid, "answer")]


def _next_when_quiet(app, sid) -> str | None:
    """NEXT once the unit's voice (a prompt, the notice) is silent."""
    app.flow.wait_idle(10)             # the notice starts right after the answer's record
    wait_for(lambda: not app.prompter_playing(), what="the unit's voice to end")
    return _press_next(app, sid)


def _replay(app) -> None:
    app.hardware.panel.press("REPLAY", 0.05)
    app.flow.wait_idle(10)


@pytest.fixture(scope="module")
def story(tmp_path_factory, spoken, kit):
    root = tmp_path_factory.mktemp("unit")
    insurer = generate_insurer_key(root / "insurer")
    app = kit.make_unit(kit.unit_config(root, insurer_key=insurer.public_path))
    try:
        lines = {text: spoken.say(text) for text in ("不同意", "同意", "我再想想")}
        statement = spoken.say(STATEMENT, "zm_yunxi")
        flow, panel = app.flow, app.hardware.panel
        panel.press("RECORD", 0.1)
        wait_for(lambda: flow.active is not None, what="session start")
        sid = flow.active.session_id
        steps = {}
        steps["consent-1"] = _answer(kit, app, sid, "consent", 1, lines["不同意"])
        steps["consent-1-next"] = _next_when_quiet(app, sid)
        _replay(app)
        steps["consent-2"] = _answer(kit, app, sid, "consent", 2, lines["同意"])
        wait_for(lambda: flow.refusal(app.clock.monotonic_ns()) is None, what=f"NEXT allowed after {_heard(app, insurer, sid)}")
        steps["consent-2-next"] = _press_next(app, sid)
        steps["confirm-1"] = _answer(kit, app, sid, "confirm", 1, lines["我再想想"])
        steps["confirm-1-next"] = _next_when_quiet(app, sid)
        _replay(app)
        steps["confirm-2"] = _answer(kit, app, sid, "confirm", 2, None)         # silence
        steps["confirm-2-next"] = _next_when_quiet(app, sid)
        _replay(app)
        steps["confirm-3"] = _answer(kit, app, sid, "confirm", 3, lines["同意"])
        wait_for(lambda: flow.refusal(app.clock.monotonic_ns()) is None, what=f"NEXT allowed after {_heard(app, insurer, sid)}")
        steps["confirm-3-next"] = _press_next(app, sid)
        kit.wait_prompts(app, sid, "facts", 1, NOTICE_SHA)
        handle = app.hardware.microphone.mix(statement.astype(np.float64) / 32768.0)
        said_ns = (handle[1], handle[1] + len(statement) * 1_000_000_000 // 16_000)
        wait_for(lambda: app.clock.monotonic_ns() > said_ns[1] + 500_000_000,
                 what="the salesperson's statement")
        wait_for(lambda: flow.refusal(app.clock.monotonic_ns()) is None, what=f"NEXT allowed after {_heard(app, insurer, sid)}")
        panel.press("NEXT", 0.05)
        wait_for(lambda: flow.active.complete, what="script complete")
        panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
        wait_for(lambda: flow.active is None, what="session end")
        assert flow.wait_idle(60)    # the parts heard the end: the check knows of it
        assert app.speech_check.wait_idle(600)
        yield {"app": app, "sid": sid, "steps": steps, "said_ns": said_ns, "root": root,
               "insurer": insurer}
    finally:
        app.close()


def test_a_no_refuses_next_until_replay_and_a_yes(story):
    steps = story["steps"]
    assert steps["consent-1"]["meaning"] == "negative", steps["consent-1"]
    assert steps["consent-1-next"] == "answer_negative"
    assert steps["consent-2"]["meaning"] == "affirmative", steps["consent-2"]
    assert steps["consent-2-next"] is None


def test_hesitation_and_silence_are_unclear(story):
    steps = story["steps"]
    assert steps["confirm-1"]["meaning"] == "unclear", steps["confirm-1"]
    assert steps["confirm-1-next"] == "answer_unclear"
    assert steps["confirm-2"]["meaning"] == "unclear" and steps["confirm-2"]["speech_start_ns"] \
        is None, steps["confirm-2"]
    assert steps["confirm-2-next"] == "answer_unclear"
    assert steps["confirm-3"]["meaning"] == "affirmative", steps["confirm-3"]
    assert steps["confirm-3-next"] is None


def test_the_voice_tells_the_salesperson_after_a_no(story):
    app, sid = story["app"], story["sid"]
    notices = [e for e in session_events(app, sid, "prompt") if e["text_sha256"] == NOTICE_SHA]
    assert {e["node"] for e in notices} == {"consent", "confirm"}
    assert len(notices) >= 3           # after 不同意, after 我再想想, after the silence


def test_each_answer_is_on_the_chain_with_its_heard_text_sealed(story):
    app, sid = story["app"], story["sid"]
    answers = session_events(app, sid, "answer")
    assert [(a["node"], a["attempt"]) for a in answers] == [
        ("consent", 1), ("consent", 2), ("confirm", 1), ("confirm", 2), ("confirm", 3)]
    spool = app.evidence.spool.root
    with MediaDecryptor(load_insurer_private_key(story["insurer"].private_path)) as media:
        for a in answers:
            assert a["start_ns"] < a["end_ns"] <= a["decided_ns"]
            path = spool / a["heard_file"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == a["heard_sha256"]
            assert b"heard" not in path.read_bytes()            # encrypted at rest
            heard = json.loads(media.open(path))
            assert heard["node"] == a["node"] and heard["attempt"] == a["attempt"]
            if a["speech_start_ns"] is not None:
                assert a["start_ns"] <= a["speech_start_ns"] <= a["speech_end_ns"]
    assert "不同意" in json.loads(MediaDecryptor(load_insurer_private_key(
        story["insurer"].private_path)).open(spool / answers[0]["heard_file"]))["heard"]


def _check_record(app, sid):
    from firmware.evidence.chain import chain_records
    found = [r for r in chain_records(app.evidence.spool.root)
             if r.session == sid and r.type == "SEGMENT"
             and r.data.get("stream") == "speech_check"]
    assert len(found) == 1, found
    return found[0]


def test_the_check_finds_the_misleading_statement_and_the_missing_phrase(story):
    app, sid = story["app"], story["sid"]
    record = _check_record(app, sid)
    findings = record.data["findings"]
    misleading = [f for f in findings if f["check"] == "misleading_statement"]
    assert {"保本", "保息"} <= {f["detail"] for f in misleading}, findings
    start, end = story["said_ns"]
    for f in misleading:
        assert f["node"] == "facts"
        assert start - 1_000_000_000 <= f["start_ns"] <= f["end_ns"] <= end + 1_000_000_000
    missing = [(f["node"], f["detail"]) for f in findings
               if f["check"] == "required_phrase_missing"]
    assert missing == [("facts", "犹豫期")], findings     # 不是存款 was said
    assert record.data["verdict"] == "review"
    referral = session_events(app, sid, "risk_referral")
    assert len(referral) == 1 and referral[0]["check_seq"] == record.seq
    assert {"保本", "保息"} <= set(referral[0]["phrases"])


def test_the_check_is_sealed_after_the_session_and_verifies(story):
    app, sid = story["app"], story["sid"]
    record = _check_record(app, sid)
    names = sorted(f.path.rsplit("/", 1)[1] for f in record.files)
    assert names == ["speech-check-key.json", "speech-check.json"]
    spool = app.evidence.spool.root
    with MediaDecryptor(load_insurer_private_key(story["insurer"].private_path)) as media:
        key = media.session_key(spool / "sessions" / sid)
        assert key.key_id_hex != record.data["key_id"]     # its own key, not the session's
    report = verify_path(spool)
    assert report.ok, [f.text() for f in report.findings]
    report = verify_path(spool / "sessions" / sid)
    assert report.ok, [f.text() for f in report.findings]


def test_the_audio_copy_and_its_keys_are_gone_after_the_check(story):
    app = story["app"]
    store, local_key = app.speech_check.store, app.speech_check.local_key
    assert store.sessions() == []
    assert not local_key.exists
    assert not any(store.root.iterdir())


def test_the_export_shows_answers_and_the_check(story, tmp_path):
    from firmware.office.export.export import export_session
    from firmware.office.export.media import media_opener
    app, sid = story["app"], story["sid"]
    result = export_session(app.evidence.spool.root / "sessions" / sid, tmp_path / "review",
                            opener=media_opener(story["insurer"].private_path))
    assert result.verified
    html = result.report.read_text(encoding="utf-8")
    assert "Answers heard" in html and "不同意" in html and "answer_negative" in html
    assert "<th>who</th>" in html and "<td>counter</td>" in html     # whose answer each is
    assert "Speech check (after the session)" in html and "referred to risk management" in html
    assert "misleading_statement" in html and "犹豫期" in html
    assert "Transcript" in html and "(encrypted)" not in html
    without_key = export_session(app.evidence.spool.root / "sessions" / sid,
                                 tmp_path / "review-no-key")
    html = without_key.report.read_text(encoding="utf-8")
    assert "misleading_statement" in html and "(encrypted)" in html
