"""The composition root: the unit's parts built in order, wired to each other, and closed in
reverse. ``dualrec run`` and ``dualrec demo`` both use it. Every job has a home of its own —
this module only wires:

- :mod:`~firmware.unit.hardware` the devices; :mod:`~firmware.unit.enrolment` the certificate;
- :mod:`firmware.evidence.store` the evidence (recovery at open);
- :mod:`~firmware.unit.recorder` capture; :mod:`~firmware.unit.session` the 双录 flow;
- :mod:`~firmware.unit.session.answers` the customer's answers and
  :mod:`~firmware.unit.speech_check` the salesperson's words (both through an
  :mod:`~firmware.unit.understanding` worker process), when ``[understanding] enabled``;
- :mod:`~firmware.unit.binder` what the next session records (people, elder rule);
- :mod:`~firmware.unit.recording_gate` whether RECORD may start (damage, disk);
- :mod:`~firmware.unit.clock_records` CLOCK records; :mod:`~firmware.unit.status_light` the LED;
- :mod:`~firmware.unit.uplinks` sync and the fleet agent, with their health;
- :mod:`~firmware.unit.unit_view` the unit as the outside sees it (status, fleet, watchdog);
- :mod:`~firmware.unit.control_commands` the local control socket.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from drivers.clock import Clock
from drivers.vision import VisionService
from firmware.config.model import Config
from firmware.evidence.keys import DeviceKey
from firmware.evidence.records import Record
from firmware.evidence.store import Evidence
from firmware.people.signed_roster import read_public_key
from firmware.ticket import TicketChecker, UnitScope, UsedTickets
from firmware.ticket.reader import TicketReader
from firmware.unit.binder import Binder, TicketBinder
from firmware.unit.clock_records import ClockRecorder
from firmware.unit.config_record import record_effective_config
from firmware.unit.control import ControlServer
from firmware.unit.control_commands import ControlCommands
from firmware.unit.enrolment import check_enrolment, read_optional
from firmware.unit.fleet.appliance_hooks import ApplianceHooks
from firmware.unit.hardware import build_hardware, models_dir
from firmware.unit.logs import LogContext
from firmware.unit.recorder import Recorder
from firmware.unit.recording_gate import RecordingGate
from firmware.unit.session.answer_window import AnswerWindowPart
from firmware.unit.session.answers import AnswerPart
from firmware.unit.session.badges import BadgePart
from firmware.unit.session.document_check import DocumentCheckPart
from firmware.unit.session.flow import Binding, SessionFlow
from firmware.unit.session.live import LiveAnalysisPart
from firmware.unit.session.parts import SessionPart
from firmware.unit.session.photos import PhotoPart
from firmware.unit.session.presence import PresencePart
from firmware.unit.session.prompter import Prompter
from firmware.unit.session.remote_parties import remote_parts
from firmware.unit.session.script import SCRIPTS_DIR, load_templates
from firmware.unit.session.selftest import SelfTest
from firmware.unit.speech_check import SpeechCheck, forbidden_phrases
from firmware.unit.status_light import StatusLight
from firmware.unit.ticket_gate import TicketGate
from firmware.unit.understanding.service import Understanding
from firmware.unit.unit_view import UnitView
from firmware.unit.uplinks import Uplinks

log = logging.getLogger(__name__)


class Appliance:
    """Everything ``dualrec run`` runs. ``on_record`` sees each record once it is durable;
    ``on_session_end`` each finished session's summary (listeners may be added later)."""

    speech_check_retry_s = 60.0   # a failed speech check is tried again after this long

    def __init__(self, config: Config, *, clock: Clock | None = None,
                 on_record: Callable[[Record], None] | None = None,
                 on_session_end: Callable[[dict], None] | None = None,
                 camera_options: dict[str, Any] | None = None,
                 log_context: LogContext | None = None) -> None:
        self.config = config
        self.log_context = log_context or LogContext()
        self._closed = False
        self._record_listeners = [on_record] if on_record else []
        self._session_listeners = [on_session_end] if on_session_end else []
        self.control = self.flow = self.evidence = self.screen = None
        self.speech_check = self.speech_checker = None
        self.uplinks = None
        self.vision = VisionService()   # faces, codes, OCR: OpenCV stays out of the daemon
        key = DeviceKey.load_or_create(config.device.key_file)
        self.hardware = hw = build_hardware(config, clock=clock, camera_options=camera_options)
        self.clock = hw.clock
        self.light = StatusLight(hw.panel)
        try:
            self._build(config, key, hw)
        except BaseException:
            self.close()
            raise

    def _build(self, config: Config, key: DeviceKey, hw) -> None:
        check_enrolment(config, key, hw.clock)
        insurer_key = None
        if config.encryption.insurer_public_key:
            from firmware.evidence.crypto import load_insurer_public_key
            insurer_key = load_insurer_public_key(config.encryption.insurer_public_key)
        self.evidence = Evidence.open(
            config.spool.path, key, hw.clock, device_id=config.device.id or None,
            certificate=read_optional(config.device.certificate),
            checkpoint_every=config.spool.checkpoint_every,
            roll_bytes=config.spool.ledger_roll_mb * 2**20, on_record=self._on_record,
            boot_data={"simulated": hw.simulated}, insurer_key=insurer_key)
        record_effective_config(self.evidence, config)  # on the chain when it changed
        self.log_context.set(device_id=self.evidence.device_id)
        self.clock_records = ClockRecorder(self.evidence, hw.clock)
        self.recorder = Recorder(self.evidence, hw.clock, hw.camera, hw.microphone, hw.pad,
                                 segment_seconds=config.recorder.segment_seconds)
        c, a = config.camera, config.audio
        self.selftest = SelfTest(
            hw.camera, hw.microphone, hw.clock, Path(config.spool.path),
            bytes_per_second=c.bitrate // 8 + a.rate * a.channels * 2,
            minutes=config.session.selftest_minutes,
            reserve_bytes=config.spool.min_free_mb * 2**20,
            require_clock_sync=config.session.require_clock_sync,
            extra={"voice": hw.synthesizer.check, "vision": self.vision.check})
        self.templates = load_templates(config.session.scripts_dir or SCRIPTS_DIR)
        self.binder = Binder(self.templates, hw.clock, template=config.session.template,
                             mode=config.session.mode)
        self.tickets = self._ticket_gate(config, hw)
        self.gate = RecordingGate(self.evidence, config.spool.path, config.spool.min_free_mb)
        self.uplinks = Uplinks(config, self.evidence, hw.clock, self.light)
        self._record_listeners.append(self.uplinks.on_record)
        self._session_listeners[:0] = [self._rebind_default, self.uplinks.session_ended]
        if config.display.enabled:   # aiohttp and pdfium are loaded only on a unit with a screen
            from firmware.unit.display.customer_screen import CustomerScreen
            self.screen = CustomerScreen(config.display, hw.clock, self.recorder, hw.pad,
                                         snapshot=lambda: self.flow and self.flow.snapshot)
            self.screen.start()
            # a refused RECORD's reason shown between sessions; what it shows is recorded
            self.add_record_listener(self.screen.follow_chain(self.evidence.event))
        if config.understanding.enabled:   # what the salesperson said, checked after a session
            self.speech_check = SpeechCheck(
                self.evidence, Understanding(models_dir(config)), rate=hw.microphone.rate,
                channels=hw.microphone.channels,
                forbidden=forbidden_phrases(config.understanding.forbidden_phrases),
                retry_s=self.speech_check_retry_s)
            self.speech_checker = self.speech_check.checker
        self.flow = SessionFlow(self.evidence, self.recorder, hw.panel,
                                Prompter(hw.speech, hw.speaker), self.selftest,
                                parts=self._session_parts(hw),
                                on_session_end=self._on_session_end, on_state=self._on_state,
                                can_record=self.gate.blocked, on_progress=self._on_progress,
                                before_start=self.tickets)
        hw.panel.set_handler(self.flow.handle)
        self.flow.bind(self.binder.default)
        self.view = UnitView(config=config, evidence=self.evidence, recorder=self.recorder,
                             flow=self.flow, selftest=self.selftest, gate=self.gate,
                             uplinks=self.uplinks, simulated=hw.simulated)
        self.commands = ControlCommands(
            view=self.view, flow=self.flow, binder=self.binder, tickets=self.tickets,
            hardware=hw, evidence=self.evidence, light=self.light,
            hold_seconds=config.panel.hold_seconds)
        self.control = (ControlServer(config.control.socket, self.commands)
                        if config.control.socket else None)
        self.uplinks.start_sync()
        self._start_speech_check()
        self.clock_records.check()
        damage = self.evidence.unacknowledged_damage()
        self.light.set_fault("evidence", f"damage records {damage}" if damage else None)
        if damage:
            log.error("evidence damage recorded (DAMAGE records %s): recording is refused until "
                      "a technician acknowledges it (dualrec damage ack)", damage)

    def _start_speech_check(self) -> None:
        """Resume the checks a restart left, then check each session as it ends."""
        if self.speech_check is not None:
            self.speech_check.start()

    def _ticket_gate(self, config: Config, hw) -> TicketGate:
        """The sale's ticket: checked against the sales systems' keys for this unit and
        branch, used once; required unless the configuration allows unbound sessions."""
        t = config.ticket
        checker = reader = None
        if t.sales_public_keys:
            keys = [read_public_key(k.strip()) for k in t.sales_public_keys.split(",")
                    if k.strip()]
            checker = TicketChecker(keys, UnitScope(self.evidence.device_id, config.branch.org,
                                                    config.branch.outlet),
                                    UsedTickets(t.used_dir))
            reader = TicketReader(checker, read_codes=self.vision.read_codes)
        return TicketGate(checker, reader, TicketBinder(self.binder), hw.camera, hw.clock,
                          self.evidence, scan_seconds=t.scan_seconds,
                          allow_unbound=t.allow_unbound or (hw.simulated and checker is None))

    def _session_parts(self, hw) -> list[SessionPart]:
        """What takes part in a session besides the script, in the order they are asked."""
        count_faces = (lambda image: len(self.vision.analyse(image).faces))  # noqa: E731
        understanding = self.config.understanding
        documents = (DocumentCheckPart(lambda jpeg: self.vision.read_text(jpeg))
                     if understanding.enabled else None)
        parts: list[SessionPart] = [LiveAnalysisPart(hw.camera, hw.microphone.rate,
                                                     faces=count_faces),
                                    PhotoPart(self.recorder, on_photo=documents.on_photo
                                              if documents else None)]
        if understanding.enabled:
            parts += [PresencePart(understanding.person_missing_seconds), documents]
        badge_reader = self._badge_reader()
        if badge_reader is not None:
            parts.append(BadgePart(badge_reader, hw.camera))
        if understanding.enabled:          # the customer's answers heard and understood
            prompter = lambda: self.flow.prompter  # noqa: E731 (the flow is built after)
            parts.append(AnswerPart(
                Understanding(models_dir(self.config)), rate=hw.microphone.rate,
                channels=hw.microphone.channels,
                say=lambda node, text: prompter().play(node, text),
                prepare=lambda texts, wpm: prompter().prepare(texts, wpm),
                parties_understanding=Understanding(models_dir(self.config))
                if self.config.meet.enabled else None))   # theirs never wait for the counter's
            parts.append(self.speech_check.part)
        else:                              # only that the customer made a sound
            parts.append(AnswerWindowPart())
        parts += remote_parts(self.config, self.evidence, hw.clock, camera=hw.camera,
                              microphone=hw.microphone, bus=self.uplinks.meeting_bus)
        if self.config.meet.enabled:   # remote parties read and sign on their phones (pdfium)
            from firmware.unit.session.remote_screen import remote_screen_parts
            screen = self.screen
            parts += remote_screen_parts(
                self.config, hw.clock, library=screen.library if screen else None,
                counter_view=(lambda: screen.server.view) if screen else (lambda: None))
        if self.screen is not None:  # last: it shows what the other parts still need
            parts.append(self.screen.session_part(parts))
        return parts

    def _badge_reader(self):
        """With a roster configured: the reader of staff badges, against the roster only if it
        is validly signed by the back office (a forged or expired roster stops the start)."""
        p = self.config.people
        if not p.roster_file:
            return None
        import datetime as dt
        from firmware.people import load_roster
        from firmware.people.badge_reader import BadgeReader
        from firmware.people.signed_roster import read_public_key
        if not p.backoffice_public_key:
            raise ValueError("[people] roster_file is set but backoffice_public_key is not: "
                             "a roster is accepted only with the key that signed it")
        today = dt.datetime.fromtimestamp(self.clock.realtime_ns() / 1e9, dt.timezone.utc).date()
        roster = load_roster(p.roster_file, read_public_key(p.backoffice_public_key), today)
        return BadgeReader(roster, read_codes=self.vision.read_codes)

    def start_fleet(self, *, request_stop: Callable[[int], None],
                    logs: Callable[[int], str], journal: bool | None = None,
                    supervised: bool | None = None) -> None:
        """Connect to the fleet broker if one is configured: state, telemetry, events,
        checkpoints, commands. ``logs(lines)``: what this process kept; ``journal``: read the
        journal for fetch-logs (default: when our stderr is the journal); ``supervised``: a
        service manager starts the daemon again after a restart (default: systemd's
        INVOCATION_ID or NOTIFY_SOCKET is set)."""
        import os
        from firmware.unit.fleet.journal_logs import JournalLogs
        from firmware.unit.logs import under_journal
        if supervised is None:
            supervised = bool(os.environ.get("INVOCATION_ID") or os.environ.get("NOTIFY_SOCKET"))
        hooks = ApplianceHooks(
            self.view, self.uplinks, config=self.config, clock=self.clock,
            locate=self.hardware.panel.locate, request_stop=request_stop,
            logs=JournalLogs(logs, journal=under_journal() if journal is None else journal),
            record_config=lambda config: record_effective_config(self.evidence, config),
            simulated=self.hardware.simulated, supervised=supervised,
            bind_ticket=self.commands.bind_ticket)
        self.uplinks.start_fleet(hooks, simulated=self.hardware.simulated)

    # -- listeners -----------------------------------------------------------------------------
    def add_record_listener(self, fn: Callable[[Record], None]) -> None:
        self._record_listeners.append(fn)

    def add_session_listener(self, fn: Callable[[dict], None]) -> None:
        self._session_listeners.append(fn)

    def _on_record(self, record: Record) -> None:
        for fn in self._record_listeners:
            try:
                fn(record)
            except Exception:  # a listener must not stop the chain
                log.exception("record listener failed")

    def _on_session_end(self, summary: dict) -> None:
        for fn in self._session_listeners:
            try:
                fn(summary)
            except Exception:
                log.exception("session listener failed")

    def _on_progress(self, session_id: str, node: str) -> None:
        """The session and node running now ("" = none): every log line names them."""
        self.log_context.set(session_id=session_id, node=node)

    def _on_state(self, state: str) -> None:
        log.info("state: %s", state)
        self.light.set_fault("flow", state if state in ("fault", "selftest_failed") else None)
        self.uplinks.state_changed(state)

    def _rebind_default(self, _summary: dict) -> None:
        if self.flow.binding is not self.binder.default:
            self.flow.bind(self.binder.default)

    # -- what tests, the demo and the daemon ask ------------------------------------------------
    def status(self) -> dict[str, Any]:
        return self.view.status()

    def bind(self, people_json: bytes, *, template: str | None = None,
             mode: str | None = None) -> Binding:
        """Bind the next session to its people and policy (docs/people.md)."""
        binding = self.binder.for_people(people_json, template=template, mode=mode)
        self.flow.bind(binding)
        self.flow.wait_idle(30)
        return binding

    def recording_blocked(self) -> tuple[str, str] | None:
        return self.gate.blocked()

    def check_clock(self) -> None:
        self.clock_records.check()

    def prompter_playing(self) -> bool:
        return self.flow.prompter.playing

    @property
    def uploader(self):
        return self.uplinks.uploader if self.uplinks else None

    @property
    def agent(self):
        return self.uplinks.agent if self.uplinks else None

    def healthy(self) -> bool:
        """Whether to feed the watchdog: the flow runs, evidence can be written, the uplinks
        work and, while recording, frames and audio are fresh."""
        snap = self.flow.snapshot
        if snap.state == "fault" or not self.flow.alive or not self.uplinks.healthy():
            return False
        if self.recorder.recording:
            return self.recorder.fresh(self.clock.monotonic_ns(), video=snap.mode == "av")
        return True

    def close(self) -> None:
        """End an open session cleanly, SHUTDOWN on the chain, close the devices. Safe twice."""
        if self._closed:
            return
        self._closed = True
        # the speech checker stops first (a check resumes at the next start), the audio copy
        # part after the flow (ending an open session still hands it the audio's end)
        for name in ("control", "speech_checker", "flow", "screen", "speech_check", "uplinks",
                     "evidence", "vision"):
            part = getattr(self, name, None)
            if part is None:
                continue
            try:
                part.close()
            except Exception:
                log.exception("closing %s", name)
        self.hardware.close()
