"""The appliance: key, evidence, devices, recorder, session flow and control socket wired
together. ``dualrec run`` and ``dualrec demo`` both use it."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import shutil
import threading
from pathlib import Path
from typing import Any, Callable

from drivers.clock import Clock
from firmware.evidence import records
from firmware import __version__
from firmware.config.model import Config
from firmware.unit.config_record import record_effective_config
from firmware.unit.control import ControlError, ControlServer
from firmware.errors import ConfigError
from firmware.evidence.store import Evidence
from firmware.unit.hardware import SAMPLE_SIGNATURE, build_hardware
from firmware.evidence.keys import DeviceKey
from firmware.unit.logs import LogContext
from firmware.evidence.records import Record
from firmware.evidence.recovery import acknowledge_damage
from firmware.unit.recorder import Recorder
from firmware.unit.session.flow import Binding, SessionFlow
from firmware.unit.session.prompter import Prompter
from firmware.unit.session.script import SCRIPTS_DIR, load_templates
from firmware.unit.session.selftest import SelfTest

log = logging.getLogger(__name__)

BUTTONS = ("RECORD", "NEXT", "REPLAY")


class Appliance:
    """Everything ``dualrec run`` runs. ``on_record`` sees each record once it is durable (the
    fleet agent's feed of checkpoints); ``on_session_end`` each finished session's summary."""

    def __init__(self, config: Config, *, clock: Clock | None = None,
                 on_record: Callable[[Record], None] | None = None,
                 on_session_end: Callable[[dict], None] | None = None,
                 camera_options: dict[str, Any] | None = None,
                 log_context: LogContext | None = None) -> None:
        self.config = config
        self.log_context = log_context or LogContext()
        self._closed = False
        self._record_listeners = [on_record] if on_record else []
        self._session_listeners = [self._rebind_default] + ([on_session_end] if on_session_end
                                                              else [])
        key = DeviceKey.load_or_create(config.device.key_file)
        self.hardware = build_hardware(config, clock=clock, camera_options=camera_options)
        hw = self.hardware
        self.clock = hw.clock
        try:
            check_enrolment(config, key, hw.clock)
            insurer_key = None
            if config.encryption.insurer_public_key:
                from firmware.evidence.crypto import load_insurer_public_key
                insurer_key = load_insurer_public_key(config.encryption.insurer_public_key)
            self.evidence = Evidence.open(
                config.spool.path, key, hw.clock, device_id=config.device.id or None,
                certificate=_read_optional(config.device.certificate),
                checkpoint_every=config.spool.checkpoint_every,
                roll_bytes=config.spool.ledger_roll_mb * 2**20, on_record=self._on_record,
                boot_data={"simulated": hw.simulated}, insurer_key=insurer_key)
            record_effective_config(self.evidence, config)  # on the chain when it changed
            self.log_context.set(device_id=self.evidence.device_id)
            self.recorder = Recorder(self.evidence, hw.clock, hw.camera, hw.microphone, hw.pad,
                                     segment_seconds=config.recorder.segment_seconds)
            c, a = config.camera, config.audio
            self.selftest = SelfTest(
                hw.camera, hw.microphone, hw.clock, Path(config.spool.path),
                bytes_per_second=c.bitrate // 8 + a.rate * a.channels * 2,
                minutes=config.session.selftest_minutes,
                reserve_bytes=config.spool.min_free_mb * 2**20,
                require_clock_sync=config.session.require_clock_sync)
            self.templates = load_templates(config.session.scripts_dir or SCRIPTS_DIR)
            if config.session.template not in self.templates:
                raise ValueError(f"[session] template {config.session.template!r} is not among "
                                 f"the scripts: {', '.join(sorted(self.templates))}")
            self.uploader = None
            self.agent = None
            badge_reader = self._badge_reader()
            self.flow = SessionFlow(self.evidence, self.recorder, hw.panel,
                                    Prompter(hw.speech, hw.speaker), self.selftest,
                                    on_session_end=self._on_session_end,
                                    on_state=self._on_state, can_record=self.recording_blocked,
                                    badge_reader=badge_reader,
                                    on_progress=self._on_progress)
            hw.panel.set_handler(self.flow.handle)
            self.default_binding = Binding(self.templates[config.session.template],
                                           mode=config.session.mode)
            self.flow.bind(self.default_binding)
            self.control = (ControlServer(config.control.socket, self.handle_control)
                            if config.control.socket else None)
            if config.sync.enabled:
                self._start_uploader()
        except BaseException:
            self.close()
            raise
        from drivers.clock import ClockWatch
        self._clock_watch = ClockWatch(hw.clock)
        self._synced: bool | None = None
        self.check_clock()
        damage = self.evidence.unacknowledged_damage()
        hw.panel.status("fault" if damage else "online")
        if damage:
            log.error("evidence damage recorded (DAMAGE records %s): recording is refused until "
                      "a technician acknowledges it (dualrec damage ack)", damage)

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
        return BadgeReader(roster)

    # -- uplinks: evidence sync and the fleet agent ---------------------------------------------
    def _start_uploader(self) -> None:
        from firmware.unit.sync.settings import SyncSettings
        from firmware.unit.sync.uploader import Uploader
        settings = SyncSettings.from_config(self.config.sync,
                                            min_free_mb=self.config.spool.min_free_mb)
        self.uploader = Uploader(self.config.spool.path, settings, clock=self.clock,
                                 evidence=self.evidence, on_failure=self._uplink_failed)
        self.uploader.start()
        self.add_session_listener(lambda _summary: self.uploader.wake())

    def start_fleet(self, *, request_stop: Callable[[int], None],
                    logs: Callable[[int], str]) -> None:
        """Connect to the fleet broker if one is configured (``[mqtt] url`` or the
        environment's DUALREC_MQTT_URL): state, telemetry, events, checkpoints, commands."""
        from firmware.unit.fleet import AgentSettings, FleetAgent, broker_url
        from firmware.unit.fleet.appliance_hooks import ApplianceHooks
        m = self.config.mqtt
        if not broker_url(m.url):
            return
        settings = AgentSettings(
            device_id=self.evidence.device_id, state_dir=Path(self.config.spool.path) / "state",
            url=m.url, client_cert=m.client_cert, client_key=m.client_key, ca_file=m.ca_file,
            branch=m.branch, keepalive_s=m.keepalive_s,
            telemetry_interval_s=m.telemetry_interval_s, reconnect_min_s=m.reconnect_min_s,
            reconnect_max_s=m.reconnect_max_s)
        hooks = ApplianceHooks(self, request_stop=request_stop, logs=logs)
        self.agent = FleetAgent(settings, hooks, on_error=self._uplink_failed)
        self.add_record_listener(self.agent.on_record)
        self.add_record_listener(self._forward_event)
        self.add_session_listener(lambda summary: self.agent.event("session_ended", summary))
        self.agent.start()

    FLEET_EVENTS = ("selftest", "record_refused", "device_lost", "badge_refused", "disk_low")

    def _forward_event(self, record: Record) -> None:
        """Self-tests, refused recordings and lost devices reach the fleet as events (their
        data holds no personal information; the agent checks that again)."""
        if record.type == records.EVENT and record.data.get("kind") in self.FLEET_EVENTS:
            data = {k: v for k, v in record.data.items() if k != "kind"}
            self.agent.event(record.data["kind"], {"seq": record.seq,
                                                   "session": record.session, **data})

    def _uplink_failed(self, exc: BaseException) -> None:
        log.error("uplink: %s", exc)

    def recording_blocked(self) -> tuple[str, str] | None:
        """Why RECORD must be refused now, as (reason code, detail), or None: evidence damage
        nobody has acknowledged, or too little disk."""
        damage = self.evidence.unacknowledged_damage()
        if damage:
            return ("evidence_damaged", f"evidence damage recorded in DAMAGE record(s) "
                    f"{', '.join(map(str, damage))}; a technician acknowledges it with "
                    "`dualrec damage ack`")
        disk = self.storage_blocked()
        return ("storage", disk) if disk else None

    def storage_blocked(self) -> str | None:
        """Why new recordings must be refused for lack of disk, or None. Sealed evidence that
        is not yet uploaded is never deleted to make room."""
        if self.uploader is not None:
            if self.uploader.recording_allowed():
                return None
            d = self.uploader.disk_status()
        else:
            from firmware.unit.sync.retention import disk_status
            d = disk_status(self.config.spool.path, self.config.spool.min_free_mb * 2**20)
            if not d.low:
                return None
        return (f"disk low: {d.free_bytes // 2**20} MiB free, {d.min_free_bytes // 2**20} MiB "
                "must stay free; recording refused until evidence is uploaded")

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
        self.hardware.panel.status("fault" if state in ("fault", "selftest_failed") else "online")
        if self.agent is not None:
            self.agent.notify_state()
            if state in ("fault", "selftest_failed"):
                self.agent.event("fault", {"state": state})

    # -- status and control --------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        flow = self.flow
        active = flow.active
        node = None
        if active is not None and not active.complete:
            node = active.binding.template.nodes[active.index].id
        head = self.evidence.ledger.head
        return {"device_id": self.evidence.device_id, "firmware": __version__,
                "state": flow.state, "session": active.session_id if active else None,
                "node": node, "template": flow.binding.template.id if flow.binding else None,
                "health": self.recorder.health(),
                "chain_head": {"seq": head.seq, "hash": head.hash} if head else None,
                "disk_free_bytes": shutil.disk_usage(self.config.spool.path).free,
                "simulated": self.hardware.simulated, "last_session": flow.last_summary,
                "selftest": self.selftest.last.as_record() if self.selftest.last else None,
                "damage_unacknowledged": self.evidence.unacknowledged_damage(),
                "recording_blocked": (lambda b: {"reason": b[0], "detail": b[1]} if b else None)(
                    self.recording_blocked())}

    def bind(self, people_json: bytes, *, template: str | None = None,
             mode: str | None = None) -> Binding:
        """Bind the next session to its people and policy (a ``people.json``, docs/people.md).
        A policyholder aged 60 or over selects the elder variant of the script. After that
        session the unit goes back to its default binding."""
        import datetime as dt
        from firmware.people import People, needs_elder_variant
        people = People.from_json(people_json)
        tpl = self.templates.get(template or self.default_binding.template.id)
        if tpl is None:
            raise ControlError(f"template {template!r}: one of {', '.join(sorted(self.templates))}")
        today = dt.datetime.fromtimestamp(self.clock.realtime_ns() / 1e9, dt.timezone.utc).date()
        if needs_elder_variant(people, today) and not tpl.elder:
            elder = self.templates.get(f"{tpl.id}-elder")
            if elder is None:
                raise ControlError(f"the policyholder is 60 or over, and template {tpl.id!r} "
                                   f"has no elder variant ({tpl.id}-elder)")
            tpl = elder
        binding = Binding(tpl, mode=mode or self.default_binding.mode,
                          application_no=people.application_number,
                          people_json=people.to_json(), summary=people.summary())
        self.flow.bind(binding)
        self.flow.wait_idle(30)
        return binding

    def _rebind_default(self, _summary: dict) -> None:
        if self.flow.binding is not self.default_binding:
            self.flow.bind(self.default_binding)

    def handle_control(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req["cmd"]
        if cmd == "status":
            return self.status()
        if cmd == "bind":
            if self.recorder.recording:
                raise ControlError("a session is recording; bind the next one after it ends")
            raw = req.get("people")
            if not isinstance(raw, str):
                raise ControlError('bind: "people" must be the people.json text, inline (the '
                                   "daemon opens no path a request names)")
            raw = raw.encode("utf-8")
            b = self.bind(raw, template=req.get("template"), mode=req.get("mode"))
            return {"template": b.template.id, "mode": b.mode, "people": b.summary}
        if cmd in ("press", "hold"):
            button = str(req.get("button", "")).upper()
            if button not in BUTTONS:
                raise ControlError(f"button {req.get('button')!r}: one of {', '.join(BUTTONS)}")
            if not self.hardware.simulated:
                raise ControlError("buttons can be pressed from the shell only on simulated "
                                   "hardware (drivers.backend = \"sim\")")
            seconds = float(req.get("seconds", 0.1 if cmd == "press" else
                                    self.config.panel.hold_seconds + 0.5))
            if not 0 < seconds <= 30:
                raise ControlError(f"seconds={seconds}: between 0 and 30")
            self.hardware.panel.press(button, seconds)
            self.flow.wait_idle(10)
            return {"state": self.flow.state}
        if cmd == "sim":
            return self._sim_control(req)
        if cmd == "ack-damage":
            return self.acknowledge_damage(str(req.get("by", "local technician"))[:64])
        raise ControlError(f"unknown command {cmd!r}: status, bind, press, hold, sim, "
                           "ack-damage")

    def acknowledge_damage(self, by: str) -> dict[str, Any]:
        """A person has seen the recorded damage: recording may resume. The DAMAGE records stay
        on the chain (verify reports them forever); the acknowledgement goes on it too."""
        acked = acknowledge_damage(self.evidence.spool)
        if acked:
            self.evidence.event("damage_acknowledged", {"damage_records": acked, "by": by})
            self.hardware.panel.status("online")
            log.warning("evidence damage (DAMAGE records %s) acknowledged by %s", acked, by)
        return {"acknowledged": acked}

    def _sim_control(self, req: dict[str, Any]) -> dict[str, Any]:
        if not self.hardware.simulated:
            raise ControlError("sim controls exist only on simulated hardware")
        hw, device, action = self.hardware, req.get("device"), req.get("action")
        targets = {"camera": hw.camera, "microphone": hw.microphone, "sigpad": hw.pad}
        if device not in targets or targets[device] is None:
            raise ControlError(f"device {device!r}: one of camera, microphone, sigpad")
        target = targets[device]
        if action in ("unplug", "replug"):
            getattr(target, action)()
        elif device == "camera" and action == "scene":
            target.set_scene(str(req.get("scene", "face")))
        elif device == "camera" and action == "drop":
            target.drop_frames(int(req.get("frames", 3)))
        elif device == "microphone" and action == "source":
            target.set_source(str(req.get("source", "speech")))
        elif device == "sigpad" and action == "sign":
            from drivers.sigpad import load_events
            _info, events = load_events(SAMPLE_SIGNATURE)
            target.play(events, wait=bool(req.get("wait", True)))
        else:
            raise ControlError(f"{device}: unknown action {action!r}")
        return {}

    def check_clock(self) -> None:
        """Put a step of wall time, or a change of NTP sync, on the chain (a CLOCK record), so
        wall times can be reconstructed and trusted only as far as they deserve."""
        sample, step = self._clock_watch.check()
        if step is not None:
            log.warning("wall clock stepped by %.3f s", step.step_ns / 1e9)
            self.evidence.ledger.append(records.CLOCK, data={
                "kind": "step", "step_ns": step.step_ns, "before": step.before.as_record(),
                "after": step.after.as_record()})
        if sample.sync.synced != self._synced:
            if self._synced is not None:
                self.evidence.ledger.append(records.CLOCK, data={
                    "kind": "sync_changed", "synced": sample.sync.synced,
                    "sample": sample.as_record()})
            self._synced = sample.sync.synced

    def prompter_playing(self) -> bool:
        return self.flow.prompter.playing

    def healthy(self) -> bool:
        """Whether to feed the watchdog: the flow runs, evidence can be written and, while
        recording, frames and audio are fresh."""
        if self.flow.state == "fault" or not self.flow._thread.is_alive():
            return False
        if self.recorder.recording:
            return self.recorder.fresh(self.clock.monotonic_ns(),
                                       video=self.flow.binding.mode == "av")
        return True

    def close(self) -> None:
        """End an open session cleanly, SHUTDOWN on the chain, close the devices. Safe twice."""
        if self._closed:
            return
        self._closed = True
        for name in ("control", "flow", "agent", "uploader", "evidence"):
            part = getattr(self, name, None)
            if part is None:
                continue
            try:
                part.close()
            except Exception:
                log.exception("closing %s", name)
        self.hardware.close()


def check_enrolment(config: Config, key: DeviceKey, clock: Clock) -> None:
    """With ``[device] fleet_ca`` set, the configured certificate must be this unit's evidence
    certificate from the fleet CA: refuse to start otherwise (ConfigError). An expired one, or
    one for an earlier evidence key, is logged and recording goes on. Dates are not checked
    while the clock is unsynchronised (no RTC on a Pi)."""
    from firmware.evidence.certs import (EVIDENCE, CertificateError, CertificateExpiredError,
                                check_device_certificate, load_fleet_ca)
    d = config.device
    if not d.fleet_ca:
        return
    pem = _read_optional(d.certificate)
    if not pem or not d.id:
        raise ConfigError("[device] fleet_ca is set, so [device] id and certificate must be "
                          "too: enrol the unit (dualrec-provision device enroll)")
    try:
        got = check_device_certificate(pem, load_fleet_ca(d.fleet_ca), device_id=d.id,
                                       purpose=EVIDENCE, check_dates=clock.sync_state().synced)
    except CertificateExpiredError as exc:
        log.error("device certificate %s: %s; recording goes on: re-enrol the unit",
                  d.certificate, exc)
        return
    except CertificateError as exc:
        raise ConfigError(f"[device] certificate {d.certificate}: {exc}") from None
    if got.evidence_key != key.public:
        log.warning("device certificate %s certifies an earlier evidence key; re-issue it "
                    "(dualrec-provision device rotate-key --ca, or device enroll)",
                    d.certificate)


def _read_optional(path: str) -> str | None:
    if not path:
        return None
    return Path(path).read_text()


def release_memory() -> None:
    """Hand freed heap back to the kernel (glibc's malloc_trim): a self-test or a session at
    1080p leaves tens of MB of freed frames in the heap, which RSS would otherwise keep."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass


def run_forever(appliance: Appliance, stop: threading.Event, notifier, *,
                selftest_every_s: int) -> None:
    """The daemon's main loop: watchdog, periodic self-test while idle, until ``stop``."""
    appliance.flow.request_selftest()
    notifier.ready(f"device {appliance.evidence.device_id} ready")
    last_selftest = last_trim = appliance.clock.monotonic_ns()
    interval = max(0.5, notifier.watchdog_usec() / 2e6) if notifier.watchdog_usec() else 1.0
    while not stop.wait(min(interval, 1.0)):
        appliance.check_clock()
        if appliance.healthy():
            notifier.watchdog()
        now = appliance.clock.monotonic_ns()
        if appliance.flow.state == "idle" and now - last_selftest > selftest_every_s * 1e9:
            appliance.flow.request_selftest()
            last_selftest = now
        if not appliance.recorder.recording and now - last_trim > 30e9:
            release_memory()
            last_trim = now
        s = appliance.flow.state
        notifier.status(f"{s}" + (f" {appliance.flow.active.session_id}"
                                  if appliance.flow.active else ""))
    notifier.stopping()
