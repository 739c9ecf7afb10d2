"""Quality checks, each provoked by simulated input: the session still seals and verifies,
flagged for review, each finding with its node and time range."""
from __future__ import annotations

import time

from session_helpers import drive, session_end

from firmware.evidence.verify import verify_path


def findings(app, sid) -> dict[str, list[dict]]:
    end = session_end(app, sid)
    assert end["quality"]["verdict"] == "review"
    out: dict[str, list[dict]] = {}
    for f in end["quality"]["findings"]:
        out.setdefault(f["check"], []).append(f)
    return out


def test_silence_no_face_and_an_unsynced_clock(make_appliance):
    app = make_appliance("quick", synced=False)

    def at_node(node):
        if node == "consent":   # nobody answers, nobody is in frame
            app.hardware.microphone.set_source("silence")
            app.hardware.camera.set_scene("pattern")
    sid = drive(app, at_node=at_node)
    found = findings(app, sid)
    assert found["silent_answer"][0]["node"] == "consent"
    s = found["silent_answer"][0]
    assert s["end_ns"] > s["start_ns"]
    assert found["no_face"] and found["no_face"][0]["start_ns"] < found["no_face"][0]["end_ns"]
    assert "clock_unsynced" in found
    assert verify_path(app.evidence.spool.session_dir(sid)).ok


def test_covered_lens_dropped_frames_and_a_missing_signature(make_appliance):
    app = make_appliance("quick")

    def at_node(node):
        if node == "facts":     # the lens is covered for a while, and frames are lost
            app.hardware.camera.drop_frames(5)
            app.hardware.camera.set_scene("covered")
            time.sleep(4 / 6 + 0.3)  # ~4 s of session time at 6x
            app.hardware.camera.set_scene("face")
    sid = drive(app, stop_at="sign", at_node=at_node)
    found = findings(app, sid)
    facts = next(n for n in session_end(app, sid)["nodes"] if n["id"] == "facts")

    def during_facts(f):  # a simulated camera lagging under load stamps frames a bit early
        return f["start_ns"] < facts["end_ns"] and f["end_ns"] > facts["start_ns"]
    assert during_facts(found["camera_dark"][0]), (found["camera_dark"], facts)
    assert during_facts(found["media_gap"][0]), (found["media_gap"], facts)
    assert found["missing_signature"][0]["node"] == "sign"
    assert found["node_missing"][0]["node"] == "sign"
    assert verify_path(app.evidence.spool.session_dir(sid)).ok
