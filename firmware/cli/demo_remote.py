"""``dualrec demo --remote``: a complete 双录 session whose policyholder is not at the counter,
on one machine, on loopback, with nothing left behind.

What runs (each piece the real one, started here and stopped at the end, also on Ctrl-C and on
failure, in reverse order):

- the fleet's broker: mosquitto with the project's configuration and ACL, certificates made
  fresh in a temporary directory (:mod:`firmware.cli.demo_broker`);
- the relay ``dualrec-meet`` in this process, and the back office's SMS sender reading the
  meeting's notice off the broker (:mod:`firmware.cli.demo_remote_office`);
- the unit on simulated hardware with ``[meet] enabled``, its fleet connection to the broker
  (a TLS certificate whose CN is its device id), bound by the sale's ticket
  (``firmware/samples/demo-remote-sale.json``: 赵敏, the policyholder, at home; 李明华, the
  insured, at the counter);
- the scripted salesperson and the insured at the counter (:class:`~firmware.cli.
  demo_salesperson.ScriptedSalesperson` with the ``happy`` scenario: the insured answers by
  voice, shows the ID card, the salesperson the 投保单) on a thread of its own;
- the remote policyholder (:mod:`firmware.cli.demo_remote_call`): a headless Chromium on the
  join page when Chromium, Playwright and the page's call and signing scripts are there
  (:mod:`firmware.cli.demo_remote_browser`), else a Python aiortc peer
  (:mod:`firmware.cli.demo_remote_party`).

The unit's clock runs at real speed here (the counter's demo runs it 3x): the remote party's
media arrives in real time and is recorded at its arrival on the unit's clock. Answers are
understood as at the counter: the insured's at the counter, the policyholder's from her call.
She joins after the first question was asked, so the unit refuses NEXT ``answer_not_asked``
and the salesperson presses REPLAY: everyone answers again. Her ID card is read from her
camera. A headless Chromium's fake camera plays one file, so hers shows the card held up for
the whole call; the aiortc party shows her face and holds the card up at the ID step.
"""
from __future__ import annotations

import datetime as dt
import json
import signal
import tempfile
import threading
import time
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any, Callable

from drivers.clock import SimClock
from firmware.cli.demo import (checked, demo_config, format_summary, issue_demo_ticket,
                               sales_key)
from firmware.cli.demo_broker import (RELAY_CN, SMS_CN, ClientFiles, DemoBroker, DemoPki,
                                      DemoSetupError)
from firmware.cli.demo_remote_call import Party, RemoteCustomer, RemotePerson
from firmware.cli.demo_remote_media import (PartyVoice, face_picture, id_card_picture,
                                            looped_answers_wav, write_y4m)
from firmware.cli.demo_remote_office import DemoRelay, SmsInbox
from firmware.cli.demo_scenarios import CUSTOMER_VOICE, SCENARIOS, asked_for
from firmware.config.loading import replace
from firmware.evidence.crypto import generate_insurer_key
from firmware.evidence.keys import DeviceKey
from firmware.evidence.store import default_device_id
from firmware.evidence.verify import verify_path
from firmware.unit.appliance import Appliance
from firmware.unit.hardware import models_dir, shared_speech_cache

REMOTE_SALE = Path(__file__).resolve().parents[1] / "samples" / "demo-remote-sale.json"
PARTY_KINDS = ("auto", "chromium", "aiortc")
FLEET_WAIT_S = 30.0
END_WAIT_S = 120.0          # the salesperson's last steps after the session's end
CHECK_WAIT_S = 900.0        # the post-session speech check (as the counter's demo)


def choose_party(asked: str, relay: DemoRelay) -> tuple[str, str]:
    """The party that runs (``chromium`` or ``aiortc``) and why."""
    from firmware.cli.demo_remote_browser import chromium_missing
    if asked == "aiortc":
        return "aiortc", "asked for (--remote-party aiortc)"
    missing = chromium_missing() or next(
        (f"the join page cannot {what} (the relay has no {script})"
         for script, what in (("call.js", "hold a call"), ("party_screen.js", "sign"))
         if not relay.serves(script)), "")
    if asked == "chromium":
        if missing:
            raise DemoSetupError(f"--remote-party chromium: {missing}")
        return "chromium", "asked for (--remote-party chromium)"
    if missing:
        return "aiortc", f"Chromium cannot be the party: {missing}"
    return "chromium", "Chromium, Playwright and the join page's call and signing box are here"


def remote_config(out: Path, device_id: str, broker: DemoBroker, unit: ClientFiles,
                  sales: DeviceKey, insurer_pub: Path):
    """The demo unit with remote parties on and its fleet connection to the demo's broker."""
    return replace(demo_config(out),
                   device={"id": device_id, "key_file": str(out / "keys" / "device.key")},
                   encryption={"insurer_public_key": str(insurer_pub)},
                   ticket={"sales_public_keys": sales.public.b64,
                           "used_dir": str(out / "tickets")},
                   meet={"enabled": True, "ice_servers": ""},
                   mqtt={"url": broker.unit_url, "client_cert": str(unit.cert),
                         "client_key": str(unit.key), "ca_file": str(unit.ca_file),
                         "branch": "demo", "reconnect_min_s": 0.1, "reconnect_max_s": 1.0})


class Salesperson(threading.Thread):
    """The scripted salesperson's :meth:`run` on a thread: its summary or its error."""

    def __init__(self, salesperson: Any) -> None:
        super().__init__(name="demo-salesperson", daemon=True)
        self._salesperson = salesperson
        self.summary: dict | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.summary = self._salesperson.run()
        except BaseException as exc:       # handed to the demo's main thread
            self.error = exc

    def result(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while self.is_alive() and time.monotonic() < deadline:
            self.join(0.5)                 # in slices: Ctrl-C stays possible
        if self.error is not None:
            raise self.error
        if self.summary is None:
            raise TimeoutError(f"the salesperson did not finish in {timeout:g} s")
        return self.summary


def stop_on_sigterm(stack: ExitStack) -> None:
    """SIGTERM ends the demo as Ctrl-C does (KeyboardInterrupt: everything started is
    stopped); a second one while it stops is ignored. Only from the main thread (the only one
    Python runs signal handlers on); the previous handler is back at the end."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, on_term)
    stack.callback(signal.signal, signal.SIGTERM, previous)


def answer_lines(app: Appliance) -> list[str]:
    """What the policyholder says at the templates' questions, in order, once each."""
    lines: list[str] = []
    for template in app.templates.values():
        for node in template.nodes:
            line = asked_for(node.prompt)
            if "answer" in node.requires and line not in lines:
                lines.append(line)
    return lines


def _start_office(stack: ExitStack, office: Path, say: Callable[[str], None]
                  ) -> tuple[DemoPki, DemoBroker, DemoRelay, SmsInbox]:
    """The demo's CAs, the broker, the relay and the SMS sender, started in ``office`` (each
    stopped by ``stack``)."""
    pki = DemoPki(office / "pki")
    broker = stack.enter_context(DemoBroker(office / "broker", pki))
    relay = DemoRelay(broker.operator_url, pki.operator(RELAY_CN))
    stack.callback(relay.stop)
    relay.start()
    sms = SmsInbox(broker.operator_url, pki.operator(SMS_CN))
    stack.callback(sms.close)
    say(f"broker      mosquitto with the project's config and ACL, TLS on 127.0.0.1:"
        f"{broker.unit_port} (units) and :{broker.operator_port} (operators); certificates "
        "made fresh for the demo")
    say(f"relay       dualrec-meet {relay.url} (operator certificate {RELAY_CN}); SMS sender "
        f"{SMS_CN}")
    return pki, broker, relay, sms


def _party_maker(kind: str, asked: str, stack: ExitStack, office: Path, relay: DemoRelay,
                 lines: list[str], face, card, model_dir: Path, say: Callable[[str], None]
                 ) -> tuple[str, Callable[[str], Party], dict[str, Any]]:
    """The party that runs, ``make_party(meeting)`` for it, and the answers' sounds (rendered
    ahead, cached with the counter's voices). Chromium is started here, before the session:
    when it cannot start and was not asked for by name, the aiortc party stands in. Its
    camera plays one file: ``card`` (her ID card held up), so that the unit reads it at the ID
    step; the aiortc party shows ``face`` and the card on cue."""
    voice = PartyVoice(model_dir, shared_speech_cache(), CUSTOMER_VOICE)
    stack.callback(voice.close)
    clips = voice.render(lines)
    if kind == "chromium":
        from firmware.cli.demo_remote_browser import ChromiumParty
        from firmware.cli.demo_remote_party import RemotePartyError
        browser = ChromiumParty(
            camera_y4m=write_y4m(office / "camera.y4m", card),
            microphone_wav=looped_answers_wav(office / "microphone.wav", clips.values()),
            tmp_dir=office / "chromium")
        stack.callback(browser.close)
        try:
            browser.start()
            return kind, (lambda meeting: browser.at(relay.link(meeting))), clips
        except RemotePartyError as exc:
            browser.close()
            if asked == "chromium":
                raise
            say(f"party       aiortc instead: {exc}")
    from firmware.cli.demo_remote_party import AiortcParty
    return "aiortc", (lambda meeting: AiortcParty(relay.url, meeting, picture=face)), clips


def _party_info(party: Party | None) -> dict[str, Any]:
    """What the party itself saw, read before it is closed."""
    if party is None:
        return {}
    info: dict[str, Any] = {"signed": list(getattr(party, "signed", [])),
                            "errors": [str(e)[:200] for e in getattr(party, "errors", [])],
                            "failed": party.failed()}
    if hasattr(party, "received"):
        info["received"] = dict(party.received)
    if hasattr(party, "wait_ended"):
        info["ended"] = party.wait_ended()
    return info


def run_remote_demo(out: Path | None, ticket_spec: Path | None = None, *, party: str = "auto",
                    as_json: bool = False) -> int:
    """The remote demo (module docstring); prints its summary (``as_json``: one JSON
    object); 0 if the session verifies and the party joined."""
    from firmware.cli.demo_remote_outcome import format_remote, remote_outcome
    from firmware.cli.demo_outcome import demo_outcome, format_understanding
    from firmware.cli.demo_salesperson import ScriptedSalesperson
    if party not in PARTY_KINDS:
        raise DemoSetupError(f"--remote-party {party!r}: one of {', '.join(PARTY_KINDS)}")
    started = time.monotonic()
    say: Callable[[str], None] = (lambda *_: None) if as_json else \
        (lambda line: print(line, flush=True))      # as it happens, also into a pipe
    spec_path = Path(ticket_spec or REMOTE_SALE)
    person = RemotePerson.of_spec(json.loads(spec_path.read_text(encoding="utf-8")),
                                  str(spec_path))
    out = Path(out) if out else Path(tempfile.mkdtemp(prefix="dualrec-demo-remote-"))
    out.mkdir(parents=True, exist_ok=True)
    insurer = out / "insurer"
    if not (insurer / "insurer-x25519.pub").exists():
        generate_insurer_key(insurer, "x25519")
    sales = sales_key(out)
    device_id = default_device_id(DeviceKey.load_or_create(out / "keys" / "device.key"))
    say(f"dualrec demo --remote: simulated counter, clock at 1x (real time), output in {out}")
    party_info: dict[str, Any] = {}
    with ExitStack() as stack:
        stop_on_sigterm(stack)
        office = Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="dualrec-demo-office-")))
        pki, broker, relay, sms = _start_office(stack, office, say)
        ports = {"broker_units": broker.unit_port, "broker_operators": broker.operator_port,
                 "relay": relay.port}
        kind, why = choose_party(party, relay)
        say(f"party       {kind}: {why}")
        config = remote_config(out, device_id, broker, pki.unit(device_id), sales,
                               insurer / "insurer-x25519.pub")
        app = Appliance(config, clock=SimClock(realtime=True, rate=1.0))
        stack.callback(app.close)
        app.start_fleet(request_stop=lambda code: None, logs=lambda lines: "", journal=False,
                        supervised=False)
        if app.agent is None or not app.agent.ready.wait(FLEET_WAIT_S):
            raise DemoSetupError(f"the unit did not connect to the broker in "
                                 f"{FLEET_WAIT_S:g} s ({broker.log_tail()})")
        now = dt.datetime.fromtimestamp(app.clock.realtime_ns() / 1e9, dt.timezone.utc)
        ticket, qr = issue_demo_ticket(spec_path, sales, app.view.device_id, now)
        say(f"ticket      {ticket.ticket_id} for application {ticket.application_hash}: "
            f"{person.name} remote, signed by a development sales key")
        lines = answer_lines(app)
        face, card = face_picture(), id_card_picture(person.name, person.id_number)
        kind, make_party, clips = _party_maker(kind, party, stack, office, relay, lines,
                                               face, card, models_dir(config), say)
        app.flow.request_selftest()
        salesperson = ScriptedSalesperson(app, say=say, ticket_qr=qr,
                                          scenario=SCENARIOS["happy"])
        stack.callback(salesperson.close)
        runner = Salesperson(salesperson)
        customer = RemoteCustomer(
            app, sms, relay, person, lambda meeting: stack.enter_context(
                closing(make_party(meeting))), kind=kind, salesperson_alive=runner.is_alive,
            salesperson_error=lambda: runner.error,
            clips=clips, face=face, id_card=card,
            say=say)
        runner.start()
        facts = customer.run()
        summary = runner.result(END_WAIT_S)
        if app.speech_check is not None:   # what was said, checked while the unit is idle
            say("  the unit checks what was said (post-session speech check)")
            salesperson.watch.wait(lambda: checked(salesperson.watch, summary["session_id"]),
                                   "the post-session speech check", timeout=CHECK_WAIT_S)
        party_info = _party_info(customer.party)
        party_info["notices"] = sms.kinds(facts.meeting)
    session = out / "spool" / "sessions" / summary["session_id"]
    report = verify_path(session)
    outcome = demo_outcome(session, insurer / "insurer-x25519.key", report)
    remote = remote_outcome(session, facts, person, party_info)
    remote["ports"] = ports
    wall = time.monotonic() - started
    ok = report.ok and remote["joined"]
    if as_json:
        print(json.dumps({**outcome, "scenario": "happy", "remote": remote,
                          "wall_seconds": round(wall, 1)}, ensure_ascii=False, indent=1))
    else:
        print(format_summary(summary, report, wall))
        print(format_remote(remote))
        print(format_understanding(outcome))
        print(f"review      dualrec export {session} --out {out / 'review'} "
              f"--key {insurer / 'insurer-x25519.key'}")
    return 0 if ok else 1
