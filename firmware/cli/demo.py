"""``dualrec demo``: a complete 双录 session on simulated hardware, sealed, verified, summarised.

A scripted salesperson holds the sale's ticket up and presses RECORD, goes through the
bank-channel script with NEXT (one NEXT too early, to show a refusal); the customer answers in
a voice of their own, shows the ID card, signs on the pad; RECORD held stops. A ``--scenario``
makes the people at the counter do something else (refuse, hesitate, mislead, show another
card, walk away: :mod:`firmware.cli.demo_scenarios`). Everything runs through the real
pipeline: gpiozero (mock pins), the simulated camera encoding real H.264 with PyAV, the prompts
in Kokoro's Mandarin mixed into the simulated microphone, Whisper hearing the answers, OCR
reading the card, the evidence chain, the post-session speech check, the verifier. The
simulated clock runs ``SPEED`` times as fast as life; every timestamp is on that clock.
"""
from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from drivers.clock import SimClock
from firmware.unit.appliance import Appliance
from firmware.config.loading import load_config, replace
from firmware.evidence.crypto import generate_insurer_key
from firmware.evidence.keys import DeviceKey
from firmware.unit.hardware import shared_speech_cache
from firmware.evidence.verify import verify_path

SPEED = 3.0


def demo_config(out: Path, template: str = "bank-life"):
    return replace(load_config(), drivers={"backend": "sim"},
                   spool={"path": str(out / "spool"), "min_free_mb": 64},
                   device={"key_file": str(out / "keys" / "device.key")},
                   speech={"cache_dir": str(shared_speech_cache())},
                   camera={"width": 640, "height": 360, "fps": 30, "bitrate": 1_000_000},
                   control={"socket": ""}, session={"template": template})


SAMPLE_TICKET_SPEC = Path(__file__).resolve().parents[1] / "samples" / "demo-sale.json"


def sales_key(out: Path) -> DeviceKey:
    """A development sales-system key (the insurer's sales system signs real tickets)."""
    return DeviceKey.load_or_create(out / "sales" / "sales.key")


def issue_demo_ticket(spec_path: Path, key: DeviceKey, device_id: str, now: dt.datetime):
    """The ticket of ``spec_path``, valid for this unit only, and a picture of its QR."""
    from firmware.ticket import encode_ticket, ticket_from_spec
    from firmware.ticket.qr import ticket_qr_image
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    spec["scope"] = {"devices": [device_id]}
    ticket = ticket_from_spec(spec, now, source=str(spec_path))
    text = encode_ticket(ticket, key.sign, key.public)
    qr = ticket_qr_image(text, module_px=4)
    return ticket, qr if qr.ndim == 3 else np.repeat(qr[:, :, None], 3, axis=2)


def run_demo(out: Path | None, ticket_spec: Path | None = None, *,
             scenario: str | None = "happy", as_json: bool = False) -> int:
    """One session at the simulated counter (``scenario``: what the people there do, see
    :mod:`firmware.cli.demo_scenarios`; None: buttons only, understanding off). Prints the
    summary (or, ``as_json``, the outcome as one JSON object); 0 if the evidence verifies.
    (A remote policyholder: :mod:`firmware.cli.demo_remote`.)"""
    from firmware.cli.demo_outcome import demo_outcome, format_understanding
    from firmware.cli.demo_salesperson import ScriptedSalesperson
    from firmware.cli.demo_scenarios import SCENARIOS
    chosen = SCENARIOS[scenario] if scenario is not None else None
    out = Path(out) if out else Path(tempfile.mkdtemp(prefix="dualrec-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    config = demo_config(out)
    insurer = out / "insurer"  # a development insurer key: media are encrypted to it
    if not (insurer / "insurer-x25519.pub").exists():
        generate_insurer_key(insurer, "x25519")
    sales = sales_key(out)
    config = replace(config,
                     encryption={"insurer_public_key": str(insurer / "insurer-x25519.pub")},
                     ticket={"sales_public_keys": sales.public.b64,
                             "used_dir": str(out / "tickets")},
                     understanding={"enabled": chosen is not None})
    started = time.monotonic()
    say = (lambda *_: None) if as_json else print
    say(f"dualrec demo: simulated hardware, clock at {SPEED:g}x, output in {out}"
        + (f"\nscenario    {chosen.name}: {chosen.summary}" if chosen else ""))
    clock = SimClock(realtime=True, rate=SPEED)
    app = Appliance(config, clock=clock)
    salesperson = None
    try:
        now = dt.datetime.fromtimestamp(clock.realtime_ns() / 1e9, dt.timezone.utc)
        ticket, qr = issue_demo_ticket(ticket_spec or SAMPLE_TICKET_SPEC, sales,
                                       app.view.device_id, now)
        say(f"ticket      {ticket.ticket_id} for application {ticket.application_hash} "
            f"({ticket.product.kind}, {ticket.insurer} {ticket.product.name}), signed "
            "by a development sales key")
        app.flow.request_selftest()  # as `dualrec run` does at start
        salesperson = ScriptedSalesperson(app, say=say, ticket_qr=qr, scenario=chosen)
        summary = salesperson.run()
        if app.speech_check is not None:   # what was said, checked while the unit is idle
            say("  the unit checks what was said (post-session speech check)")
            salesperson.watch.wait(lambda: checked(salesperson.watch, summary["session_id"]),
                                   "the post-session speech check", timeout=900)
    finally:
        if salesperson is not None:
            salesperson.close()
        app.close()
    session = out / "spool" / "sessions" / summary["session_id"]
    report = verify_path(session)
    if as_json:
        outcome = demo_outcome(session, insurer / "insurer-x25519.key", report)
        outcome["scenario"] = chosen.name if chosen else None
        print(json.dumps(outcome, ensure_ascii=False, indent=1))
    else:
        print(format_summary(summary, report, time.monotonic() - started))
        if chosen is not None:
            print(format_understanding(demo_outcome(session, insurer / "insurer-x25519.key",
                                                    report)))
        print(f"encryption  media encrypted to {insurer / 'insurer-x25519.pub'}\n"
              f"review      dualrec export {session} --out {out / 'review'} "
              f"--key {insurer / 'insurer-x25519.key'}")
    return 0 if report.ok else 1


def checked(watch, session_id: str) -> bool:
    """Whether the speech check's results about ``session_id`` are on the chain."""
    return any(r.data.get("stream") == "speech_check"
               for r in watch.records("SEGMENT", session_id))


def format_summary(summary: dict, report, wall_s: float) -> str:
    st = summary["stats"]
    offset = st["av_offset_us"]
    lines = [
        "",
        f"session     {summary['session_id']} (template {summary['template']})",
        f"sale        application {summary.get('application_hash') or 'none (unbound)'}",
        f"duration    {st['duration_ms'] / 1000:.1f} s on the session clock "
        f"({wall_s:.0f} s wall)",
        f"video       {st['frames']} frames in {st['video_segments']} segments, "
        f"{st['dropped_frames']} dropped",
        f"audio       {st['audio_ms'] / 1000:.1f} s in {st['audio_segments']} segments",
        f"signatures  {st['signatures']}",
        f"gaps        {st['gaps']}",
        "A/V offset  " + ("n/a" if offset is None else
                          f"{abs(offset) / 1000:.1f} ms (the first video frame "
                          f"{'after' if offset >= 0 else 'before'} the first audio sample; both "
                          "on CLOCK_MONOTONIC, so playback aligns them exactly)"),
        f"script      {'complete' if summary['script_complete'] else 'INCOMPLETE'}, "
        f"{summary['refusals']} NEXT refused",
        f"quality     {summary['verdict']}"
        + (f" ({', '.join(summary['findings'])})" if summary["findings"] else ""),
        f"evidence    {report.files_checked} files, {report.bytes_checked:,} bytes, "
        f"records {report.first_seq}..{report.head_seq}",
        f"chain head  seq {report.head_seq} sha256 {report.head_hash}",
        f"verify      {'INTACT' if report.ok else 'NOT INTACT'}"
        + "".join(f"\n            {f.text()}" for f in report.findings),
    ]
    return "\n".join(lines)
