"""The hardware check's rig (the devices of one configuration, each opened on its own), the run
over every check, and its report."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from firmware.unit.hwcheck.checks import (CHECKS, Result, Technician, check_audio, check_camera,
                                          check_clock, check_disk, check_panel, check_sigpad,
                                          check_spool)


class Rig:
    """Opens each device of the configuration on demand: the real backends, or simulated ones
    with a person in front of the camera and a quiet room."""

    def __init__(self, config: Any, snapshot: Path | None = None) -> None:
        from drivers.clock import SystemClock
        self.config = config
        self.sim = config.drivers.backend == "sim"
        self.clock = SystemClock()
        self.snapshot = snapshot   # where to save a still of what the camera sees

    def open_camera(self) -> Any:
        from drivers.camera import open_camera
        c = self.config.camera
        camera = open_camera("sim" if self.sim else "picamera2", clock=self.clock,
                             width=c.width, height=c.height, fps=c.fps, bitrate=c.bitrate)
        if self.sim:
            camera.set_scene("face")
        return camera

    def open_audio(self) -> tuple[Any, Any]:
        from drivers.audio import open_microphone, open_speaker
        a = self.config.audio
        mic = open_microphone("sim" if self.sim else "pyaudio", clock=self.clock, rate=a.rate,
                              channels=a.channels, block_frames=a.block_frames,
                              device=a.microphone or None)
        try:
            if self.sim:
                mic.set_source("tone", freq=100.0, amplitude=0.01)   # the hum of a quiet room
                return mic, open_speaker("sim", clock=self.clock, loopback=mic)
            return mic, open_speaker("pyaudio", clock=self.clock, device=a.speaker or None)
        except BaseException:
            mic.close()
            raise

    @contextlib.contextmanager
    def open_voice(self) -> Iterator[Any]:
        """The unit's voice, built as the daemon builds it (:mod:`firmware.unit.hardware`):
        Kokoro-82M from the installed models, the insurer's recordings, at the default pace.
        Prompts go to the unit's prompt cache (``[speech] cache_dir``) when it is there and
        this user's, so a second check does not synthesise again; otherwise (run as root, or
        before the service first made it) to a scratch directory removed afterwards, so the
        check never leaves files or a directory in the cache the service cannot use."""
        from drivers.speech import KokoroSpeech
        from drivers.speech.kokoro import DEFAULT_WPM
        from firmware.unit.hardware import recorded_prompts, unit_synthesizer
        cache = Path(self.config.speech.cache_dir)
        with contextlib.ExitStack() as stack:
            if not _own_directory(cache):
                cache = Path(stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="dualrec-hwcheck-")))
            synthesizer = stack.enter_context(unit_synthesizer(self.config))
            yield KokoroSpeech(cache, synthesizer, DEFAULT_WPM,
                               recorded=recorded_prompts(self.config), clock=self.clock)

    def open_panel(self) -> Any:
        from drivers.panel import open_panel
        from firmware.unit.hardware import panel_pins
        p = self.config.panel
        return open_panel("sim" if self.sim else "gpio", pins=panel_pins(self.config),
                          clock=self.clock, hold_seconds=p.hold_seconds, bounce_ms=p.bounce_ms)

    def open_pad(self) -> Any:
        from drivers.sigpad import EvdevSignaturePad, ReplaySignaturePad, load_events
        if self.sim:
            info, _events = load_events(self.signature)
            return ReplaySignaturePad(info, [], self.clock)
        if not self.config.sigpad.device:
            return None
        return EvdevSignaturePad(self.config.sigpad.device, self.clock)

    @property
    def signature(self) -> Path:
        from firmware.unit.hardware import SAMPLE_SIGNATURE
        return Path(self.config.sigpad.replay_file or SAMPLE_SIGNATURE)


def _own_directory(path: Path) -> bool:
    """``path`` is a directory (not a symlink) of this user's, which it can write."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return (path.is_dir() and not path.is_symlink() and st.st_uid == os.geteuid()
            and os.access(path, os.W_OK | os.X_OK))


def run_checks(rig: Rig, who: Technician, *, skip: set[str] = frozenset(),
               timeout: float = 30.0) -> list[Result]:
    """Every check not in ``skip``, in the order a technician works through them. A check that
    raises fails with the reason (a missing device names itself) and the others still run."""
    steps: list[tuple[str, set[str], Callable[[], Result | list[Result]]]] = [
        ("camera", {"camera"}, lambda: check_camera(rig)),
        ("microphone", {"microphone", "speaker"}, lambda: check_audio(rig, who, skip)),
        ("buttons", {"buttons", "leds"}, lambda: check_panel(rig, who, timeout, skip)),
        ("signature pad", {"sigpad"}, lambda: check_sigpad(rig, who, timeout)),
        ("clock", {"clock"}, lambda: check_clock(rig)),
        ("disk", {"disk"}, lambda: check_disk(rig)),
        ("spool", {"spool"}, lambda: check_spool(rig)),
    ]
    results: list[Result] = []
    for name, covers, step in steps:
        if covers <= skip:
            continue
        who.tell(f"--- {name}")
        try:
            got = step()
        except Exception as exc:  # noqa: BLE001 - the report names what failed and why
            got = Result(name, "fail", f"{type(exc).__name__}: {exc}")
        results += got if isinstance(got, list) else [got]
    results += [Result(name, "skip", "left out (--skip)") for name in CHECKS if name in skip]
    return results


def format_results(results: list[Result]) -> str:
    width = max((len(r.check) for r in results), default=5)
    lines = [f"  {r.status.upper():4}  {r.check:{width}}  {r.detail}" for r in results]
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")}
    lines.append(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return "\n".join(lines)


# -- the command ------------------------------------------------------------------------------
