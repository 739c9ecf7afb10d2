"""The checks of ``dualrec hwcheck``, one device each (see :mod:`firmware.unit.hwcheck`)."""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TextIO

import numpy as np

if TYPE_CHECKING:
    from firmware.unit.hwcheck.rig import Rig

CHECKS = ("camera", "microphone", "speaker", "buttons", "leds", "sigpad", "clock", "disk",
          "spool")
#: BCM GPIO number -> physical pin of the Raspberry Pi's 40-pin header.
HEADER_PIN = {2: 3, 3: 5, 4: 7, 14: 8, 15: 10, 17: 11, 18: 12, 27: 13, 22: 15, 23: 16, 24: 18,
              10: 19, 9: 21, 25: 22, 11: 23, 8: 24, 7: 26, 0: 27, 1: 28, 5: 29, 6: 31, 12: 32,
              13: 33, 19: 35, 16: 36, 26: 37, 20: 38, 21: 40}
SPOKEN = "扬声器测试。"   # "Speaker test."
#: The speaker is heard when the microphone's level rises this much while it plays.
LOOPBACK_DB = 6.0


@dataclass
class Result:
    check: str
    status: str   # "pass", "fail" or "skip"
    detail: str


def gpio(pin: int) -> str:
    return f"GPIO{pin}, header pin {HEADER_PIN.get(pin, '?')}"


# -- the person at the unit -------------------------------------------------------------------
class Technician:
    """Reads instructions and answers questions at the terminal (``ask``), or is absent."""

    def __init__(self, out: TextIO, ask: bool) -> None:
        self.out = out
        self.ask = ask

    def tell(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def press(self, panel: Any, button: str, pin: int) -> None:
        self.tell(f">>> Press and release {button} ({gpio(pin)}) now.")

    def sign(self, pad: Any) -> None:
        self.tell(">>> Draw a line on the signature pad with its pen now.")

    def confirm(self, question: str, observed: Callable[[], bool]) -> bool | None:
        """The person's yes/no, or None when nobody is asked."""
        if not self.ask:
            return None
        while True:
            print(f">>> {question} [y/n] ", end="", file=self.out, flush=True)
            answer = sys.stdin.readline()
            if not answer:
                return None
            if answer.strip().lower() in ("y", "yes", "n", "no"):
                return answer.strip().lower().startswith("y")


class SimulatedTechnician(Technician):
    """On simulated hardware: presses the mock pins, signs the replay pad, reads the LED pins."""

    def __init__(self, out: TextIO, signature: Path) -> None:
        super().__init__(out, ask=False)
        self.signature = signature

    def press(self, panel: Any, button: str, pin: int) -> None:
        super().press(panel, button, pin)
        threading.Timer(0.2, panel.press, args=(button,)).start()

    def sign(self, pad: Any) -> None:
        from drivers.sigpad import load_events
        super().sign(pad)
        pad.play(load_events(self.signature)[1], wait=False)

    def confirm(self, question: str, observed: Callable[[], bool]) -> bool | None:
        time.sleep(1.0)   # long enough to see a blink
        seen = observed()
        self.tell(f">>> {question} (simulated: {'yes' if seen else 'no'})")
        return seen


# -- the checks ---------------------------------------------------------------------------------
class _Probe:
    """The sink of the camera, the microphone and the pad: what arrived, and when."""

    def __init__(self) -> None:
        self.frames: list[int] = []                   # frame timestamps, CLOCK_MONOTONIC ns
        self.levels: list[tuple[int, float]] = []     # (block time ns, RMS dBFS)
        self.peak = 0
        self.pen: list[Any] = []                      # PenSamples with the pen down
        self.strokes = 0
        self.stroke_done = threading.Event()
        self.lost: str | None = None

    def outputframe(self, frame: Any) -> None:
        self.frames.append(frame.timestamp_ns)

    def audioblock(self, block: Any) -> None:
        samples = np.frombuffer(block.pcm, dtype="<i2").astype(np.float64)
        if samples.size:
            rms = math.sqrt(float(np.mean(samples ** 2))) / 32768.0
            self.levels.append((block.first_sample_ns, 20 * math.log10(max(rms, 1e-6))))
            self.peak = max(self.peak, int(np.abs(samples).max()))

    def level(self, start_ns: int, end_ns: int) -> float | None:
        """The median level (dBFS) of the blocks between the two times."""
        inside = [db for t, db in self.levels if start_ns <= t < end_ns]
        return float(np.median(inside)) if inside else None

    def pen_sample(self, sample: Any) -> None:
        if sample.pen_down:
            self.pen.append(sample)

    def stroke_ended(self, timestamp_ns: int) -> None:
        self.strokes += 1
        self.stroke_done.set()

    def _lost(self, timestamp_ns: int, reason: str) -> None:
        self.lost = reason

    def _restored(self, timestamp_ns: int) -> None:
        self.lost = None

    def _ignored(self, *args: Any) -> None:
        pass

    camera_lost = microphone_lost = pad_lost = _lost
    camera_restored = microphone_restored = pad_restored = _restored
    frames_dropped = audio_gap = _ignored


def check_camera(rig: "Rig", seconds: float = 2.0) -> Result:
    import cv2
    from firmware.unit.session.selftest import COVERED_BRIGHTNESS
    c = rig.config.camera
    camera = rig.open_camera()
    sink = _Probe()
    try:
        camera.start(sink)
        time.sleep(seconds)
        got = camera.analysis_frame()
        if rig.snapshot is not None and sink.frames:
            rig.snapshot.write_bytes(camera.capture_jpeg()[0])
        camera.stop()
    finally:
        camera.close()
    what = f"{c.width}x{c.height} at {c.fps} fps"
    if not sink.frames:
        return Result("camera", "fail", f"{what}: no frames in {seconds:.0f} s"
                      + (f" ({sink.lost})" if sink.lost else "") + "; check the ribbon cable")
    late_s = abs(rig.clock.monotonic_ns() - sink.frames[-1]) / 1e9
    if any(b <= a for a, b in zip(sink.frames, sink.frames[1:])) or late_s > 2:
        return Result("camera", "fail", f"{what}: frame timestamps are not on CLOCK_MONOTONIC "
                      f"(last frame {late_s:.1f} s away from now)")
    fps = (len(sink.frames) - 1) / max((sink.frames[-1] - sink.frames[0]) / 1e9, 1e-9)
    brightness = None if got is None else float(cv2.cvtColor(got[0], cv2.COLOR_BGR2GRAY).mean())
    detail = (f"{what}: {len(sink.frames)} frames in {seconds:.0f} s ({fps:.1f} fps), "
              f"brightness {'none' if brightness is None else round(brightness)}")
    if brightness is None or brightness < COVERED_BRIGHTNESS:
        return Result("camera", "fail", detail + "; is the lens covered or the counter dark?")
    if fps < 0.8 * c.fps:
        return Result("camera", "fail", detail + f"; below 80 % of {c.fps} fps")
    if rig.snapshot is not None:
        detail += f"; picture in {rig.snapshot}"
    return Result("camera", "pass", detail)


def check_audio(rig: "Rig", who: Technician, skip: set[str]) -> list[Result]:
    """The microphone (level of the room), then the speaker (a prompt in the unit's own voice,
    heard by the person and, as a level rise, by the microphone)."""
    results: list[Result] = []
    mic, speaker = rig.open_audio()
    sink = _Probe()
    try:
        mic.start(sink)
        quiet_from = rig.clock.monotonic_ns()
        time.sleep(1.5)
        room = sink.level(quiet_from, rig.clock.monotonic_ns())
        if "microphone" not in skip:
            if room is None:
                results.append(Result("microphone", "fail", f"{mic.device}: no audio in 1.5 s"
                                      + (f" ({sink.lost})" if sink.lost else "")))
            elif sink.peak == 0:
                results.append(Result("microphone", "fail", f"{mic.device}: only silence; "
                                      "muted, or the wrong device ([audio] microphone)?"))
            else:
                results.append(Result("microphone", "pass", f"{mic.device}: room level "
                                      f"{room:.0f} dBFS, peak {sink.peak}"))
        if "speaker" not in skip:
            results.append(_check_speaker(rig, who, speaker, sink, room))
    finally:
        mic.close()
        speaker.close()
    return results


def _check_speaker(rig: "Rig", who: Technician, speaker: Any, sink: _Probe,
                   room: float | None) -> Result:
    from drivers.errors import DriverError
    with contextlib.ExitStack() as voice:      # the WAV may live in a scratch directory
        try:
            speech = voice.enter_context(rig.open_voice())
            wav = speech.render_many([SPOKEN])[0]      # and the voice's worker stops
        except DriverError as exc:   # the voice, not the speaker: say which
            return Result("speaker", "fail", f"the unit's voice could not speak the test "
                          f"prompt ({exc}); the speaker was not tried")
        return _play_and_listen(rig, who, speaker, sink, room, wav)


def _play_and_listen(rig: "Rig", who: Technician, speaker: Any, sink: _Probe,
                     room: float | None, wav: Path) -> Result:
    who.tell(f">>> Listen: the speaker says \"{SPOKEN}\" (speaker test).")
    playback = speaker.play(wav)
    playback.wait(30)
    time.sleep(0.2)
    loud = sink.level(playback.started_ns, playback.ended_ns or rig.clock.monotonic_ns())
    rise = None if loud is None or room is None else loud - room
    heard = f"microphone +{rise:.0f} dB while it played" if rise is not None else "not measured"
    if not playback.completed:
        return Result("speaker", "fail", f"{getattr(speaker, 'device', '')}: playback did not "
                      f"complete: {playback.error}")
    answer = who.confirm("Did you hear it clearly?",
                         lambda: rise is not None and rise >= LOOPBACK_DB)
    if answer is None:
        ok = rise is not None and rise >= LOOPBACK_DB
        return Result("speaker", "pass" if ok else "fail",
                      f"{heard} (nobody asked; {LOOPBACK_DB:.0f} dB needed)")
    return Result("speaker", "pass" if answer else "fail",
                  f"{'heard' if answer else 'NOT heard'} by the technician; {heard}")


def check_panel(rig: "Rig", who: Technician, timeout: float, skip: set[str]) -> list[Result]:
    from drivers.panel import BUTTONS
    p = rig.config.panel
    panel = rig.open_panel()
    results: list[Result] = []
    events: list[Any] = []
    arrived = threading.Condition()

    def on_event(event: Any) -> None:
        with arrived:
            events.append(event)
            arrived.notify_all()

    panel.set_handler(on_event)
    try:
        if "buttons" not in skip:
            pins = {"RECORD": p.record_pin, "NEXT": p.next_pin, "REPLAY": p.replay_pin}
            for button in BUTTONS:
                with arrived:
                    events.clear()
                who.press(panel, button, pins[button])
                with arrived:
                    arrived.wait_for(lambda: any(e.button == button and e.kind == "release"
                                                 for e in events), timeout)
                    seen = list(events)
                results.append(_button_result(button, pins[button], seen, timeout))
        if "leds" not in skip:
            results += _check_outputs(rig, who, panel)
    finally:
        panel.close()
    return results


def _button_result(button: str, pin: int, seen: list[Any], timeout: float) -> Result:
    name = f"button {button}"
    mine = [e.kind for e in seen if e.button == button]
    if "press" in mine and "release" in mine:
        return Result(name, "pass", f"pressed and released ({gpio(pin)})")
    others = sorted({e.button for e in seen if e.button != button})
    if others:
        return Result(name, "fail", f"{' and '.join(others)} came instead: are the wires of "
                      f"{button} ({gpio(pin)}) and {others[0]} swapped?")
    return Result(name, "fail", f"no press within {timeout:.0f} s: check the wire from "
                  f"{gpio(pin)} through the button to ground")


def _check_outputs(rig: "Rig", who: Technician, panel: Any) -> list[Result]:
    p = rig.config.panel
    outputs = [("rec", "RECORD LED", p.rec_led_pin, "blink", "Did the RECORD LED blink?"),
               ("status", "STATUS LED", p.status_led_pin, "fault",
                "Did the STATUS LED flicker fast?")]
    if p.buzzer_pin >= 0:
        outputs.append(("buzzer", "buzzer", p.buzzer_pin, "fault",
                        "Did you hear three beeps from the buzzer?"))
    results = []
    for target, label, pin, mode, question in outputs:
        watch = _pin_watch(panel, target)
        who.tell(f">>> Watch/listen: the {label} ({gpio(pin)}).")
        if target == "rec":
            panel.rec_led(mode)
        elif target == "status":
            panel.status(mode)
        else:
            panel.signal(mode)
        answer = who.confirm(question, watch)
        panel.rec_led("off")
        panel.status("off")
        if answer is None:
            results.append(Result(label, "skip", f"driven ({gpio(pin)}); nobody looked "
                                  "(run it at a terminal to confirm)"))
        else:
            results.append(Result(label, "pass" if answer else "fail",
                                  f"{'confirmed' if answer else 'NOT seen'} ({gpio(pin)})"
                                  + ("" if answer else ": check the resistor, the polarity "
                                     "and the ground wire")))
    return results


def _pin_watch(panel: Any, target: str) -> Callable[[], bool]:
    """On mock pins: whether the output toggled since now; on real pins nothing can tell."""
    if not hasattr(panel, "led_pin"):
        return lambda: False
    pin = panel.led_pin(target)
    pin.clear_states()
    return lambda: len(pin.states) >= 3


def check_sigpad(rig: "Rig", who: Technician, timeout: float) -> Result:
    pad = rig.open_pad()
    if pad is None:
        return Result("signature pad", "skip", "not configured ([sigpad] device is empty)")
    sink = _Probe()
    try:
        pad.start(sink)
        who.sign(pad)
        sink.stroke_done.wait(timeout)
        time.sleep(0.3)
    finally:
        pad.close()
    info = pad.info
    if not sink.pen:
        return Result("signature pad", "fail", f"{info.name}: no pen stroke within "
                      f"{timeout:.0f} s" + (f" ({sink.lost})" if sink.lost else ""))
    late_s = abs(rig.clock.monotonic_ns() - sink.pen[-1].timestamp_ns) / 1e9
    if late_s > timeout + 5:
        return Result("signature pad", "fail", f"{info.name}: pen timestamps are not on "
                      "CLOCK_MONOTONIC")
    pressure = max(s.pressure for s in sink.pen)
    return Result("signature pad", "pass", f"{info.name}: {sink.strokes} stroke(s), "
                  f"{len(sink.pen)} samples, pressure up to {pressure}/{info.pressure_max}")


def check_clock(rig: "Rig") -> Result:
    sync = rig.clock.sync_state()
    wall = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(rig.clock.realtime_ns() / 1e9))
    if sync.synced:
        return Result("clock", "pass", f"{wall}, NTP synchronised (estimated error "
                      f"{sync.est_error_us / 1000:.0f} ms)")
    return Result("clock", "fail", f"{wall}, NOT synchronised ({sync.source}): check the "
                  "network and `timedatectl timesync-status`")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(rig: "Rig") -> Result:
    c, a, s = rig.config.camera, rig.config.audio, rig.config.session
    usage = shutil.disk_usage(_existing(Path(rig.config.spool.path)))
    per_s = c.bitrate // 8 + a.rate * a.channels * 2
    needed = per_s * s.selftest_minutes * 60 + rig.config.spool.min_free_mb * 2**20
    detail = (f"{usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB; "
              f"{needed / 2**20:.0f} MiB needed for {s.selftest_minutes} minutes")
    return Result("disk", "pass" if usage.free >= needed else "fail", detail)


def check_spool(rig: "Rig") -> Result:
    spool = Path(rig.config.spool.path)
    where = spool if spool.exists() else _existing(spool)
    probe = where / f".hwcheck-{os.getpid()}"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"dualrec hwcheck\n")
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as exc:
        return Result("spool", "fail", f"{where} is not writable by uid {os.getuid()}: "
                      f"{exc.strerror}")
    note = "" if spool.exists() else " (the spool is created at the first start)"
    return Result("spool", "pass", f"{where} writable by uid {os.getuid()}{note}")


# -- the devices ------------------------------------------------------------------------------
