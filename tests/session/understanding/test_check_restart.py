"""The post-session check survives a unit switched off before it ran: the session's audio copy
and its wrapped check key wait in SPOOL/state (never the key in the clear), the next start
resumes the check (pausing while a new session records), and when it is done the copy, the
wrapped key and the unit-local key are gone. A check cut off half-way goes on from the last
piece it finished."""
from __future__ import annotations

import base64
import hashlib

import numpy as np
import pytest

from firmware.evidence.chain import chain_records
from firmware.evidence.verify import verify_path
from firmware.unit.session.answers import NOTICE
from firmware.unit.speech_check.session_records import Span
from firmware.unit.speech_check.transcript import AudioFacts, Progress, pieces, transcribe
from firmware.unit.understanding.service import Understanding
from session_helpers import session_events, wait_for
from spoken_lines import silence

NOTICE_SHA = hashlib.sha256(NOTICE.encode("utf-8")).hexdigest()
STATEMENT = "本产品是保险产品，不是存款，犹豫期为十五天。我们保证零风险。"


def _session(kit, app, spoken) -> str:
    """RECORD, 同意 twice, the salesperson's statement, NEXT to the end, RECORD held."""
    yes, line = spoken.say("同意"), spoken.say(STATEMENT, "zm_yunxi")    # rendered ahead
    flow, panel = app.flow, app.hardware.panel
    panel.press("RECORD", 0.1)
    wait_for(lambda: flow.active is not None, what="session start")
    sid = flow.active.session_id
    for node in ("consent", "confirm"):
        kit.wait_prompts(app, sid, node, 1, NOTICE_SHA)
        kit.say(app, np.concatenate([silence(0.3), yes]))
        try:
            wait_for(lambda: flow.refusal(app.clock.monotonic_ns()) is None, timeout=120,
                     what=f"the answer at {node}")
        except AssertionError:
            raise AssertionError(f"at {node}: {flow.refusal(app.clock.monotonic_ns())}, "
                                 f"{session_events(app, sid, 'answer')}") from None
        panel.press("NEXT", 0.05)
    kit.wait_prompts(app, sid, "facts", 1, NOTICE_SHA)
    _, start = app.hardware.microphone.mix(line.astype(np.float64) / 32768.0)
    end = start + len(line) * 1_000_000_000 // 16_000
    wait_for(lambda: app.clock.monotonic_ns() > end + 500_000_000, what="the statement")
    wait_for(lambda: flow.refusal(app.clock.monotonic_ns()) is None, what="NEXT allowed")
    panel.press("NEXT", 0.05)
    wait_for(lambda: flow.active.complete, what="script complete")
    panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
    wait_for(lambda: flow.active is None, what="session end")
    return sid


def _checks(spool, sid):
    return [r for r in chain_records(spool) if r.session == sid and r.type == "SEGMENT"
            and r.data.get("stream") == "speech_check"]


@pytest.fixture(scope="module")
def unchecked(tmp_path_factory, spoken, kit):
    """A unit that recorded a session and was switched off before its check ran."""
    root = tmp_path_factory.mktemp("restart")
    config = kit.unit_config(root)
    app = kit.make_unit(config, start_check=False)
    try:
        sid = _session(kit, app, spoken)
        store, local_key = app.speech_check.store, app.speech_check.local_key
    finally:
        app.close()
    return {"root": root, "config": config, "sid": sid, "store": store, "key": local_key}


def test_a_pending_check_keeps_only_wrapped_keys_and_ciphertext(unchecked):
    store, sid = unchecked["store"], unchecked["sid"]
    assert store.sessions() == [sid]
    job = store.read(sid)
    assert job["state"] == "ready" and job["forbidden"] and job["required"] == {
        "facts": ["不是存款", "犹豫期"]}
    wrapped = job["check_key"]
    assert len(base64.b64decode(wrapped["wrapped"])) == 32 + 16     # AES-GCM wrapped
    assert unchecked["key"].exists
    audio = store.audio_path(sid).read_bytes()
    assert audio.startswith(b"\x89DRE\r\n\x1a\n")                   # the encrypted format
    assert _checks(unchecked["config"].spool.path, sid) == []


def test_the_next_start_resumes_the_check_after_the_session_it_records(unchecked, kit, spoken):
    first = unchecked["sid"]
    app = kit.make_unit(unchecked["config"], start_check=False)
    try:
        app.hardware.panel.press("RECORD", 0.1)                      # a new session records
        wait_for(lambda: app.flow.active is not None, what="session start")
        second = app.flow.active.session_id
        app.speech_check.start()
        assert app.speech_check.wait_idle(60)                        # paused while recording
        assert first in app.speech_check.checker.pending
        assert _checks(app.evidence.spool.root, first) == []
        app.hardware.panel.press("RECORD", app.config.panel.hold_seconds + 0.3)
        wait_for(lambda: app.flow.active is None, what="session end")
        assert app.flow.wait_idle(60)    # the parts heard the end: the check knows of it
        assert app.speech_check.wait_idle(600)
        spool = app.evidence.spool.root
        [record] = _checks(spool, first)
        findings = {(f["check"], f["detail"]) for f in record.data["findings"]}
        assert ("misleading_statement", "零风险") in findings, findings
        assert not any(c == "required_phrase_missing" for c, _ in findings), findings
        assert len(_checks(spool, second)) == 1
        assert session_events(app, first, "risk_referral")
        assert app.speech_check.store.sessions() == []
        assert not app.speech_check.local_key.exists                  # the retained key is gone
        report = verify_path(spool)
        assert report.ok, [f.text() for f in report.findings]
    finally:
        app.close()


def test_a_check_cut_off_goes_on_from_the_last_piece(spoken, models, tmp_path):
    """transcribe() stops when told to pause and resumes from its saved progress: the result
    is the same as in one go."""
    rate = 16_000
    line = spoken.say("这个产品保本保息，比存款利息高。", "zm_yunxi")
    audio = np.concatenate([silence(1.0), line, silence(1.0), line, silence(1.0)])
    blocks = []
    first = 5_000_000_000
    for start in range(0, len(audio), 320):
        pcm = audio[start:start + 320]
        blocks.append((first + start * 1_000_000_000 // rate, start, len(pcm), pcm.tobytes()))
    middle = first + int((1.0 + len(line) / rate + 0.5) * 1e9)
    prompts = [Span("facts", middle - 100_000_000, middle + 100_000_000)]   # 3 pieces
    saved: list[Progress] = []
    with Understanding(models) as understanding:
        def run(progress, pause_after):
            calls = {"n": 0}

            def should_pause():
                calls["n"] += 1
                return pause_after is not None and calls["n"] > pause_after
            return transcribe(pieces(iter(blocks), prompts, rate, AudioFacts()), progress,
                              understanding, rate=rate, channels=1, should_pause=should_pause,
                              save=lambda p: saved.append(Progress.from_json(p.to_json())))
        whole = Progress()
        assert run(whole, None)
        cut = Progress()
        assert not run(cut, 1)                                 # one piece, then switched off
        resumed = Progress.from_json(saved[-1].to_json())
        assert resumed.pieces == 1
        assert run(resumed, None)
    assert resumed.pieces == whole.pieces == 3
    assert resumed.segments == whole.segments
    assert [s[2] for s in whole.segments] == ["room", "room"], whole.segments  # said twice
