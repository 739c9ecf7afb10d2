"""``dualrec demo``: a complete 双录 session on simulated hardware, sealed, verified, summarised.

A scripted salesperson presses RECORD, goes through the bank-channel script with NEXT (one
NEXT too early, to show a refusal), has the customer sign on the pad, and holds RECORD to stop.
Everything runs through the real pipeline: gpiozero (mock pins), the simulated camera encoding
real H.264 with PyAV, simulated audio with the prompts (espeak-ng) mixed in, the evidence chain,
the verifier. The simulated clock runs ``SPEED`` times as fast as life so the whole script fits
in about a minute; every timestamp is on that clock.
"""
from __future__ import annotations

import datetime as dt
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from drivers.clock import SimClock
from drivers.sigpad import load_events
from firmware.unit.appliance import Appliance
from firmware.config.loading import load_config, replace
from firmware.evidence.crypto import generate_insurer_key
from firmware.evidence.keys import DeviceKey
from firmware.unit.hardware import SAMPLE_SIGNATURE, shared_speech_cache
from firmware.evidence.verify import verify_path

SPEED = 3.0


def demo_config(out: Path, template: str = "bank-life"):
    return replace(load_config(), drivers={"backend": "sim"},
                   spool={"path": str(out / "spool"), "min_free_mb": 64},
                   device={"key_file": str(out / "keys" / "device.key")},
                   speech={"cache_dir": str(shared_speech_cache())},
                   camera={"width": 640, "height": 360, "fps": 30, "bitrate": 1_000_000},
                   control={"socket": ""}, session={"template": template})


class ScriptedSalesperson:
    """Presses the buttons the way branch staff do, waiting for the flow to accept each NEXT."""

    def __init__(self, appliance: Appliance, say=print, ticket_qr=None) -> None:
        self.ticket_qr = ticket_qr   # a BGR picture of the ticket's QR, held up at RECORD
        self.app = appliance
        self.panel = appliance.hardware.panel
        self.flow = appliance.flow
        self.say = say

    def _wait(self, predicate, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the session flow did not get there (state "
                                   f"{self.flow.state})")
            time.sleep(0.05)

    def run(self) -> dict:
        flow, clock = self.flow, self.app.clock
        self.app.hardware.camera.set_scene("face")
        self.app.hardware.microphone.set_source("speech")
        self._wait(lambda: self.app.selftest.last is not None)
        self.flow.wait_idle(30)
        self.flow.prompter.wait_prepared(900)   # the voice renders ahead: no node waits
        camera = self.app.hardware.camera
        if self.ticket_qr is not None:
            self.say("  the salesperson holds the sale's 双录二维码 up to the camera")
            camera.show_image(self.ticket_qr)
        self.say("  RECORD pressed")
        self.panel.press("RECORD", 0.15)
        self._wait(lambda: flow.active is not None)
        if self.ticket_qr is not None:
            camera.set_scene("face")
            self.flow.prompter.wait_prepared(900)   # the policy's facts, rendered at binding
        sid = flow.active.session_id
        early = True
        for node in flow.active.binding.template.nodes:
            self._wait(lambda: bool(flow.active.nodes) and flow.active.nodes[-1].id == node.id)
            self.say(f"  node {node.id}: {node.title}")
            if early:  # too soon: the prompt is still playing, so NEXT is refused
                time.sleep(0.3)
                self.panel.press("NEXT", 0.1)
                early = False
            if "signature" in node.requires:
                self._wait(lambda: not self.app.prompter_playing())
                _info, events = load_events(SAMPLE_SIGNATURE)
                self.app.hardware.pad.play(events, wait=True)
                self.say("  the customer signs on the pad")
            self._wait(lambda: flow.refusal(clock.monotonic_ns()) is None)
            self.panel.press("NEXT", 0.1)
        self._wait(lambda: flow.active is not None and flow.active.complete)
        self.say("  RECORD held to stop")
        done = threading.Event()
        self.app.add_session_listener(lambda summary: done.set())
        self.panel.press("RECORD", self.app.config.panel.hold_seconds + 0.4)
        if not done.wait(60):
            raise TimeoutError(f"session {sid} did not end")
        return flow.last_summary


SAMPLE_TICKET_SPEC = Path(__file__).resolve().parents[1] / "samples" / "ticket-spec.json"


def _sales_key(out: Path) -> DeviceKey:
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


def run_demo(out: Path | None, ticket_spec: Path | None = None) -> int:
    out = Path(out) if out else Path(tempfile.mkdtemp(prefix="dualrec-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    config = demo_config(out)
    insurer = out / "insurer"  # a development insurer key: media are encrypted to it
    if not (insurer / "insurer-x25519.pub").exists():
        generate_insurer_key(insurer, "x25519")
    sales = _sales_key(out)
    config = replace(config,
                     encryption={"insurer_public_key": str(insurer / "insurer-x25519.pub")},
                     ticket={"sales_public_keys": sales.public.b64,
                             "used_dir": str(out / "tickets")})
    started = time.monotonic()
    print(f"dualrec demo: simulated hardware, clock at {SPEED:g}x, output in {out}")
    clock = SimClock(realtime=True, rate=SPEED)
    app = Appliance(config, clock=clock)
    try:
        now = dt.datetime.fromtimestamp(clock.realtime_ns() / 1e9, dt.timezone.utc)
        ticket, qr = issue_demo_ticket(ticket_spec or SAMPLE_TICKET_SPEC, sales,
                                       app.view.device_id, now)
        print(f"ticket      {ticket.ticket_id} for application {ticket.application_hash} "
              f"({ticket.product.kind}, {ticket.insurer} {ticket.product.name}), signed "
              "by a development sales key")
        app.flow.request_selftest()  # as `dualrec run` does at start
        summary = ScriptedSalesperson(app, ticket_qr=qr).run()
    finally:
        app.close()
    session = out / "spool" / "sessions" / summary["session_id"]
    report = verify_path(session)
    print(format_summary(summary, report, time.monotonic() - started))
    print(f"encryption  media encrypted to {insurer / 'insurer-x25519.pub'}\n"
          f"review      dualrec export {session} --out {out / 'review'} "
          f"--key {insurer / 'insurer-x25519.key'}")
    return 0 if report.ok else 1


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
