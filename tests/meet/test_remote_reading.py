"""A remote policyholder reads the documents page by page and signs with a finger on the phone
(issue 17), over the call's ``screen`` data channel; NEXT waits for them. The unit is the
appliance as the daemon builds it (its customer's screen on, the meeting on its fleet agent's
connection to the real mosquitto, a relay on loopback); the phone is an aiortc peer behind the
relay's WebSocket with the negotiated data channel a browser's call script opens.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from drivers.sigpad import load_events
from firmware.evidence.verify import verify_path
from session_helpers import wait_for
from firmware.unit.display.refusals import REFUSAL_WORDS
from firmware.unit.hardware import SAMPLE_SIGNATURE
from firmware.unit.session import remote_screen
from tests.meet.conftest import ZHAO_ID
from tests.meet.parts import record_and_read_notice
from tests.meet.reading_phone import ReadingPhone
from tests.meet.counter_unit import (WAIT, events, finish, hold_record, press_next,
                                     prompt_done, strings)
from tests.meet.reading_unit import (NOTICE, PAGES, counter,  # noqa: F401
                                     counter_reads, counter_without_screen)
from tests.remote.remote_rig import write_tone_wav

PHONE_WIDTH = 1080          # a phone's screen, 360 CSS px at 3 device pixels each
STROKES = [[(0, 20, 100), (16, 40, 80), (33, 60, 60), (50, 80, 70)],
           [(400, 120, 60), (416, 120, 120), (433, 125, 150)]]


def read_pages(message: dict) -> list[int]:
    reading = message["view"]["reading"]
    return reading["documents"][reading["current"]]["read_pages"] if reading else []


def read_page(phone: ReadingPhone, page: int) -> int:
    """The party on ``page``: its picture fetched and on screen until the unit counts it read;
    the picture's size."""
    phone.wait_view(lambda v: v["view"]["page"] and v["view"]["page"]["page"] == page,
                    f"page {page} on the phone")
    picture = phone.fetch(NOTICE, page, PHONE_WIDTH)
    phone.shown(NOTICE, page)
    phone.wait_view(lambda v: page in read_pages(v), f"page {page} read")
    return len(picture.png)


def join(app, records, relays, broker, pki, tmp_path) -> tuple[ReadingPhone, dict, str]:
    notice = record_and_read_notice(app, broker, pki)
    records.wait(lambda w: events(w, "node_start", node="consent"), WAIT)
    phone = ReadingPhone(relays().url, notice["meeting"], write_tone_wav(tmp_path / "tone.wav"))
    phone.join(notice["code"], [0], "赵敏", ZHAO_ID[-4:])
    phone.call()
    records.wait(lambda w: events(w, "remote_joined", party="p1"), WAIT)
    return phone, notice, app.flow.snapshot.session_id


def test_the_remote_policyholder_reads_and_signs_on_the_phone(counter, broker, pki, relays,
                                                              watch, tmp_path):
    app, records = counter
    phone, notice, sid = join(app, records, relays, broker, pki, tmp_path)
    try:
        # both screens show the same step and caption; the phone sees masked names only
        first = phone.wait_view(lambda v: v["view"]["node"]
                                and v["view"]["node"]["title"] == "告知与同意", "the first step")
        counter_parts = app.screen.server.view.parts()
        assert first["view"]["node"] == counter_parts["node"]
        assert first["view"]["caption"]["text"] == counter_parts["caption"]["text"]
        assert {p["name"] for p in first["view"]["people"]} == {"赵*", "王*"}
        assert first["signature"] is None and first["view"]["reading"] is None
        prompt_done(records, "consent")
        press_next(app, records, expect_node="reading")

        view = phone.wait_view(lambda v: v["view"]["reading"] is not None, "the documents")
        document = view["view"]["reading"]["documents"][0]
        assert (document["sha256"], document["pages"]) == (NOTICE, PAGES)
        assert view["view"]["needs"]["needs"][0]["need"] == "pages"
        prompt_done(records, "reading")
        press_next(app, records, refused="remote_reading")
        refused = phone.wait_view(lambda v: (v["view"]["refusal"] or {}).get("code")
                                  == "remote_reading", "the refusal on the phone")
        assert refused["view"]["refusal"]["detail"] == "《责任免除条款》第 1–3 页未读"

        sizes = [read_page(phone, 1)]
        phone.turn(NOTICE, 2)
        phone.wait_view(lambda v: v["view"]["page"]["page"] == 2, "page 2")
        phone.fetch(NOTICE, 2, PHONE_WIDTH)
        phone.shown(NOTICE, 2)
        phone.drop()                                   # mid-reading: the phone's network goes
        records.wait(lambda w: events(w, "remote_screen", party="p1", event="closed"), WAIT)
        records.wait(lambda w: len(events(w, "remote_media_lost", party="p1")) >= 2, WAIT)
        press_next(app, records, refused="remote_disconnected")

        phone.call()                                   # back, on a new connection
        records.wait(lambda w: events(w, "remote_joined", party="p1", connection=2)
                     and len(w.of("GAP", kind="network_drop")) >= 2, WAIT)   # media back
        back = phone.wait_view(lambda v: v["view"]["reading"] is not None, "the view again")
        assert read_pages(back)[:1] == [1]             # what was read stays read
        assert back["view"]["page"]["page"] == 2       # and the page it was on
        press_next(app, records, refused="remote_reading")
        sizes.append(read_page(phone, 2))
        phone.turn(NOTICE, 3)
        sizes.append(read_page(phone, 3))
        press_next(app, records, refused="remote_reading")        # not yet "我已阅读"
        phone.read(NOTICE)
        phone.wait_view(lambda v: v["view"]["reading"]["documents"][0]["confirmed"], "read")
        press_next(app, records, refused="pages_unread")          # the counter's own reading
        counter_reads(app, NOTICE, PAGES)
        press_next(app, records, expect_node="sign")

        phone.wait_view(lambda v: v["signature"] == {"node": "sign", "state": "wanted"},
                        "the signature asked for")
        prompt_done(records, "sign")
        press_next(app, records, refused="remote_signing")
        phone.sign("sign", STROKES)
        records.wait(lambda w: events(w, "remote_signature", party="p1"), WAIT)
        phone.wait_view(lambda v: v["signature"] == {"node": "sign", "state": "sealed"},
                        "the signature sealed")
        press_next(app, records, refused="missing_signature")     # the pad at the counter
        _info, pad_events = load_events(SAMPLE_SIGNATURE)
        app.hardware.pad.play(pad_events, wait=True)
        wait_for(lambda: not app.recorder.signing, timeout=WAIT, what="the pen lifted")
        press_next(app, records)
        finish(app, records)
    finally:
        phone.close()

    assert phone.errors == [] and phone.page.errors == []
    report = verify_path(app.evidence.spool.root)
    assert report.ok, report.findings
    session = [r for r in records.records if r.session == sid]
    shown = [r.data for r in session if r.type == "EVENT" and r.data["kind"] == "screen_page"
             and r.data.get("party") == "p1"]
    assert {s["page"] for s in shown if s["read"]} == {1, 2, 3}
    assert all(s["node"] == "reading" and s["document"] == NOTICE
               and s["end_ns"] >= s["start_ns"] for s in shown)
    reads = [r.data for r in session if r.type == "EVENT" and r.data["kind"] == "screen_read"]
    assert [(r.get("party"), r["accepted"]) for r in reads] == [("p1", True), (None, True)]
    channel = [e["event"] for e in events(records, "remote_screen", party="p1")]
    assert channel[:3] == ["open", "closed", "open"] and channel[-1] == "summary"
    assert {r.data["part"] for r in session if r.type == "EVENT"
            and r.data["kind"] == "screen" and r.data.get("party") == "p1"} >= {
        "node", "caption", "reading", "page", "refusal", "people"}

    # the finger signature: the party's own file, sealed, its hash on the chain
    sealed = next(r for r in session if r.type == "SEGMENT"
                  and r.data.get("stream") == "remote_signature")
    recorded = events(records, "remote_signature", party="p1")[0]
    assert (sealed.data["party"], sealed.data["node"], sealed.data["points"]) == ("p1", "sign", 7)
    path = app.evidence.spool.root / sealed.files[0].path
    content = path.read_bytes()
    assert hashlib.sha256(content).hexdigest() == recorded["sha256"]
    signature = json.loads(content)
    assert signature["format"] == "dualrec.finger-signature/1"
    assert [s["t_ms"] for s in signature["strokes"]] == [[0, 16, 33, 50], [400, 416, 433]]
    assert recorded["file"] == path.name == "sign-signature-p1.json"

    assert min(sizes) > 10_000                    # real pages, not blanks
    assert not [r for r in records.records if "赵敏" in str(r.data)
                or notice["code"] in strings(r.data)]


def test_what_a_party_must_not_send_is_refused_and_recorded(counter_without_screen, broker,
                                                            pki, relays, watch, tmp_path):
    """On a unit without a counter screen: the party still sees the step, its caption and the
    people, and reads."""
    app, records = counter_without_screen
    phone, _notice, sid = join(app, records, relays, broker, pki, tmp_path)
    try:
        first = phone.wait_view(lambda v: v["view"]["node"] is not None, "the first step")
        assert first["view"]["node"] == {"number": 1, "total": 3, "title": "告知与同意"}
        assert first["view"]["caption"]["text"] == "请回答同意。"
        assert {p["name"] for p in first["view"]["people"]} == {"赵*", "王*"}
        bad = [
            ("not json", None, "$"),
            (b"\x00\x01binary", None, "$"),
            ("x" * 70_000, None, "$"),                                        # over 64 KiB
            ({"type": "page", "document": NOTICE, "page": 1}, "page", "$.document"),
            ({"type": "read", "document": NOTICE, "extra": 1}, "read", "$.extra"),
            ({"type": "fly"}, None, "$.type"),
            ("[" * 10 + "]" * 10, None, "$"),                                 # too deep
            ({"type": "signature", "node": "consent", "width": 300, "height": 150,
              "strokes": [{"t": list(range(3000)), "x": [1] * 3000, "y": [1] * 3000}]},
             "signature", "$.strokes[0].t"),                                  # too many points
            ({"type": "signature", "node": "consent", "width": 300, "height": 150,
              "strokes": [{"t": [0, 5], "x": [1, 2], "y": [1, 2]}]}, "signature", "$.node"),
        ]
        for message, of, field in bad:
            mark = phone.mark
            phone.send(message)
            got = phone.wait_message(lambda m: m["type"] == "refused", after=mark,
                                     what=f"the refusal of {str(message)[:40]!r}")
            assert (got["of"], got["field"]) == (of, field), got
        mark = phone.mark
        for _ in range(200):                          # a flood: braked, told once
            phone.send({"type": "read", "document": NOTICE})
        flood = phone.wait_message(lambda m: m["type"] == "refused"
                                   and "a second" in m["rule"], after=mark, what="the brake")
        assert flood["field"] == "$"
        prompt_done(records, "consent")
        press_next(app, records, expect_node="reading")       # the session goes on
        phone.wait_view(lambda v: v["view"]["reading"] is not None, "the documents")
        prompt_done(records, "reading")
        press_next(app, records, refused="remote_reading")
        phone.wait_view(lambda v: (v["view"]["refusal"] or {}).get("code") == "remote_reading",
                        "the refusal, from the unit's own view")
        hold_record(app, records)
    finally:
        phone.close()

    assert phone.errors == []
    refused = events(records, "remote_screen_refused", party="p1")
    assert [(r["of"], r["field"]) for r in refused[:len(bad)]] == [(o, f) for _, o, f in bad]
    assert "too_large" in refused[2]["rule"] and "text messages only" in refused[1]["rule"]
    assert len(refused) <= 32                          # bounded, the rest counted
    summary = events(records, "remote_screen", party="p1", event="summary")[0]
    assert summary["dropped"] > 0 and summary["refused"] > len(bad)
    assert verify_path(app.evidence.spool.session_dir(sid)).ok


def test_the_screen_has_words_for_the_remote_refusals():
    for code in ("remote_reading", "remote_signing"):
        assert f'"{code}"' in Path(remote_screen.__file__).read_text(encoding="utf-8")
        assert code in REFUSAL_WORDS and "：" in REFUSAL_WORDS[code]
