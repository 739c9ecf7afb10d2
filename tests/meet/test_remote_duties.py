"""Who signs and reads where (issue 17), with every customer of the sale remote: the
policyholder (赵敏) and the insured (李秀英) each on their own phone (aiortc peers behind the
relay), nobody but the salesperson at the counter. NEXT never asks for the pad's signature or
the counter's reading; a node only the policyholder signs does not ask the insured; the chain
says who had to act where, the session has no ``missing_signature`` and verifies."""
from __future__ import annotations

from pathlib import Path

from firmware.evidence.verify import verify_path
from tests.meet.conftest import LI_ID, ZHAO_ID
from tests.meet.counter_unit import (WAIT, bound_unit, events, finish, press_next,
                                     prompt_done, sale_spec)
from tests.meet.parts import record_and_read_notice
from tests.meet.reading_phone import ReadingPhone
from tests.meet.reading_unit import NOTICE, PAGES, reading_library
from tests.remote.remote_rig import write_tone_wav

SCRIPTS = Path(__file__).resolve().parent / "duties_scripts"
STROKES = [[(0, 20, 100), (16, 40, 80), (33, 60, 60)]]
PHONE_WIDTH = 1080


def read_page(phone: ReadingPhone, page: int) -> None:
    """The party on ``page`` of the notice, its picture on screen until the unit counts it."""
    def read(message: dict) -> list[int]:
        reading = message["view"]["reading"]
        return reading["documents"][reading["current"]]["read_pages"] if reading else []
    phone.wait_view(lambda v: v["view"]["page"] and v["view"]["page"]["page"] == page,
                    f"page {page} on the phone")
    phone.fetch(NOTICE, page, PHONE_WIDTH)
    phone.shown(NOTICE, page)
    phone.wait_view(lambda v: page in read(v), f"page {page} read")


def everyone_remote(device_id: str) -> dict:
    spec = sale_spec(device_id)
    spec["people"] = [{**spec["people"][0]},
                      {"role": "insured", "name": "李秀英", "id_type": "resident_id",
                       "id_number": LI_ID, "remote": True}]
    return spec


def needs(message: dict) -> list[str]:
    return [n["need"] for n in (message["view"].get("needs") or {}).get("needs", [])]


def test_with_everyone_remote_the_counter_neither_signs_nor_reads(tmp_path, broker, pki, relays,
                                                                 watch):
    display = {"enabled": True, "listen": "127.0.0.1:0",
               "documents": str(reading_library(tmp_path / "documents"))}
    with bound_unit(tmp_path, broker, pki, device="dr-duties-unit", template="remote-duties",
                    scripts=SCRIPTS, spec=everyone_remote, display=display) as (app, records,
                                                                                 _sales):
        notice = record_and_read_notice(app, broker, pki)
        sid = app.flow.snapshot.session_id
        url, wav = relays().url, write_tone_wav(tmp_path / "tone.wav")
        holder = ReadingPhone(url, notice["meeting"], wav)
        insured = ReadingPhone(url, notice["meeting"], wav)
        try:
            for phone, party, seat, name, number in ((holder, "p1", 0, "赵敏", ZHAO_ID),
                                                      (insured, "p2", 1, "李秀英", LI_ID)):
                phone.join(notice["code"], [seat], name, number[-4:])
                phone.call()
                records.wait(lambda w, p=party: events(w, "remote_joined", party=p), WAIT)
            prompt_done(records, "consent")
            press_next(app, records, expect_node="reading")

            # only the policyholder must read; the counter's reading is not asked for
            prompt_done(records, "reading")
            press_next(app, records, refused="remote_reading")
            other = insured.wait_view(lambda v: v["view"]["reading"] is not None, "documents")
            assert "pages" not in needs(other)
            for page in range(1, PAGES + 1):
                if page > 1:
                    holder.turn(NOTICE, page)
                read_page(holder, page)
            holder.read(NOTICE)
            holder.wait_view(lambda v: v["view"]["reading"]["documents"][0]["confirmed"],
                             "read")
            press_next(app, records, expect_node="sign")

            # both sign on their phones; the pad is not asked for
            for phone in (holder, insured):
                phone.wait_view(lambda v: v["signature"] == {"node": "sign", "state": "wanted"},
                                "the signature asked for")
            prompt_done(records, "sign")
            press_next(app, records, refused="remote_signing")
            holder.sign("sign", STROKES)
            records.wait(lambda w: events(w, "remote_signature", party="p1"), WAIT)
            press_next(app, records, refused="remote_signing")
            insured.sign("sign", STROKES)
            records.wait(lambda w: events(w, "remote_signature", party="p2"), WAIT)
            press_next(app, records, expect_node="sign-holder")

            # only the policyholder signs here: the insured's phone does not ask
            holder.wait_view(lambda v: v["signature"] == {"node": "sign-holder",
                                                          "state": "wanted"}, "asked")
            asked = insured.wait_view(lambda v: v["view"]["node"] is not None
                                      and v["view"]["node"]["title"] == "投保人签名",
                                      "the step on the insured's phone")
            assert asked["signature"] is None and "signature" not in needs(asked)
            prompt_done(records, "sign-holder")
            press_next(app, records, refused="remote_signing")
            holder.sign("sign-holder", STROKES)
            records.wait(lambda w: len(events(w, "remote_signature", party="p1")) == 2, WAIT)
            press_next(app, records)
            finish(app, records)
        finally:
            holder.close()
            insured.close()

        assert holder.errors == insured.errors == []
        report = verify_path(app.evidence.spool.root)
        assert report.ok, report.findings
        [end] = [r for r in records.of("SESSION_END") if r.session == sid]
        checks = [f["check"] for f in end.data["quality"]["findings"]]
        assert "missing_signature" not in checks and "node_missing" not in checks
        assert not [r for r in records.records if r.session == sid and r.type == "SEGMENT"
                    and r.data.get("stream") == "signature"]          # nothing on the pad
        holder_remote = {"role": "policyholder", "where": "remote", "seat": 0, "party": "p1"}
        insured_remote = {"role": "insured", "where": "remote", "seat": 1, "party": "p2"}
        ended = {e["node"]: e for e in events(records, "node_end")}
        assert ended["reading"]["readers"] == [holder_remote]
        assert ended["sign"]["signers"] == [holder_remote, insured_remote]
        assert ended["sign-holder"]["signers"] == [holder_remote]
        assert "signers" not in ended["consent"] and "readers" not in ended["consent"]
        started = {e["node"]: e for e in events(records, "node_start")}
        assert started["sign"]["signers"] == ended["sign"]["signers"]
        assert "signers" not in started["consent"] and "readers" not in started["sign"]
        refused = {(e["node"], e["reason"]) for e in events(records, "next_refused")}
        assert not {r for r in refused if r[1] in ("missing_signature", "pages_unread")}
        assert not [r for r in records.records if "赵敏" in str(r.data) or "李秀英" in str(r.data)
                    or LI_ID in str(r.data)]
