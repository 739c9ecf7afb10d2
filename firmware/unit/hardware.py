"""The appliance's devices, built from configuration: real backends on the Pi, simulated ones
(``drivers.backend = "sim"``) elsewhere. A real backend that cannot start says which device."""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.audio import Microphone, Speaker, open_microphone, open_speaker
from drivers.camera import Camera, open_camera
from drivers.clock import Clock, SystemClock
from drivers.panel import Panel, PanelPins
from drivers.panel.backends import open_panel
from drivers.sigpad import (EvdevSignaturePad, ReplaySignaturePad, SignaturePad,
                            load_events)
from drivers.speech import KokoroSpeech, RecordedPrompts, Synthesizer
from firmware.config.model import Config
from firmware.errors import ConfigError
from firmware.unit.session.script import SCRIPTS_DIR, load_templates, template_recordings

log = logging.getLogger(__name__)

SAMPLE_SIGNATURE = (Path(__file__).resolve().parents[2] / "drivers" / "sigpad" / "samples"
                    / "signature-demo.jsonl")


@dataclass
class Hardware:
    clock: Clock
    camera: Camera
    microphone: Microphone
    speaker: Speaker
    pad: SignaturePad | None
    panel: Panel
    speech_dir: str
    synthesizer: Synthesizer          # the voice (Kokoro-82M), in a worker process
    recorded: RecordedPrompts | None  # an insurer's recordings of fixed wording
    simulated: bool

    @property
    def voice(self) -> str:
        return self.synthesizer.voice

    def speech(self, words_per_minute: int) -> KokoroSpeech:
        """The unit's voice at one pace (prompts are cached per text, voice and pace)."""
        return KokoroSpeech(self.speech_dir, self.synthesizer, words_per_minute,
                            recorded=self.recorded, clock=self.clock)

    def close(self) -> None:
        """Close every device; safe twice."""
        for device in (self.panel, self.pad, self.speaker, self.microphone, self.camera,
                       self.synthesizer):
            if device is None:
                continue
            try:
                device.close()
            except Exception as exc:  # one device failing to close must not keep the others
                log.error("closing %s: %s", type(device).__name__, exc)


def models_dir(config: Config) -> Path:
    """Where the voice and recogniser models are: ``[speech] model_dir``, else
    ``$DUALREC_MODELS``, else ``PREFIX/share/dualrec-models`` (where the set-up installs them)."""
    if config.speech.model_dir:
        return Path(config.speech.model_dir)
    return Path(os.environ.get("DUALREC_MODELS") or Path(sys.prefix) / "share" /
                "dualrec-models")


def unit_synthesizer(config: Config) -> Synthesizer:
    """The unit's voice: Kokoro-82M speaking ``[speech] voice`` with the models of
    :func:`models_dir`, in a worker process started at the first synthesis (the caller closes
    it)."""
    return Synthesizer(models_dir(config), config.speech.voice)


def recorded_prompts(config: Config) -> RecordedPrompts | None:
    """An insurer's recordings of fixed wording (``[speech] recorded_dir``, files named by the
    SHA-256 of the text), pinned by the ``recording`` keys of the script templates (``[session]
    scripts_dir``); None when there is neither. Every pinned recording is checked now:
    :class:`ConfigError` naming each template node whose recording is missing, unusable or not
    the one its pin names (the unit does not start rather than speak other audio), or when
    templates pin recordings and ``recorded_dir`` is not set."""
    templates = load_templates(config.session.scripts_dir or SCRIPTS_DIR)
    pins = template_recordings(templates.values())
    directory = config.speech.recorded_dir or None
    if not pins:
        return RecordedPrompts(directory) if directory else None
    where = {n.prompt: f"{t.path}: node {n.id!r}" for t in templates.values()
             for n in t.nodes if n.recording is not None}
    if directory is None:
        raise ConfigError(f"[speech] recorded_dir is not set, but {len(pins)} template "
                          f"node(s) pin a recording ({sorted(where.values())[0]}, ...): set it "
                          "to the directory where the insurer's recordings are installed")
    recorded = RecordedPrompts(directory, pins=pins)
    problems = recorded.pinned_problems()
    if problems:
        raise ConfigError("pinned prompt recordings are unusable:\n  " + "\n  ".join(
            f"{where[text]}.recording: {problem}" for text, problem in problems.items()))
    return recorded


def shared_speech_cache() -> Path:
    """A prompt cache kept with the firmware's installation (``$DUALREC_SPEECH_CACHE``, else
    ``PREFIX/share/dualrec-speech-cache``): simulated units and the demo reuse what an earlier
    run rendered (prompts are cached by the hash of text, voice, pace and model)."""
    return Path(os.environ.get("DUALREC_SPEECH_CACHE") or Path(sys.prefix) / "share" /
                "dualrec-speech-cache")


def panel_pins(config: Config) -> PanelPins:
    p = config.panel
    return PanelPins(record=p.record_pin, next=p.next_pin, replay=p.replay_pin,
                     rec_led=p.rec_led_pin, status_led=p.status_led_pin,
                     buzzer=None if p.buzzer_pin < 0 else p.buzzer_pin)


def build_hardware(config: Config, *, clock: Clock | None = None,
                   camera_options: dict[str, Any] | None = None) -> Hardware:
    sim = config.drivers.backend == "sim"
    clock = clock or SystemClock()
    recorded = recorded_prompts(config)     # before any device opens: it may refuse the start
    c, a = config.camera, config.audio
    opened: list[Any] = []
    try:
        camera = open_camera("sim" if sim else "picamera2", clock=clock, width=c.width,
                             height=c.height, fps=c.fps, bitrate=c.bitrate,
                             **(camera_options or {}))
        opened.append(camera)
        microphone = open_microphone("sim" if sim else "pyaudio", clock=clock, rate=a.rate,
                                     channels=a.channels, block_frames=a.block_frames,
                                     device=a.microphone or None)
        opened.append(microphone)
        if sim:  # the simulated counter: someone in front of the camera, people talking
            camera.set_scene("face")
            microphone.set_source("speech")
        if sim:
            speaker = open_speaker("sim", clock=clock, loopback=microphone)
        else:
            speaker = open_speaker("pyaudio", clock=clock, device=a.speaker or None)
        opened.append(speaker)
        pad: SignaturePad | None = None
        if sim:
            info, _events = load_events(config.sigpad.replay_file or SAMPLE_SIGNATURE)
            pad = ReplaySignaturePad(info, [], clock)
        elif config.sigpad.device:
            pad = EvdevSignaturePad(config.sigpad.device, clock)
        if pad is not None:
            opened.append(pad)
        panel = open_panel("sim" if sim else "gpio", pins=panel_pins(config), clock=clock,
                           hold_seconds=config.panel.hold_seconds,
                           bounce_ms=config.panel.bounce_ms)
        opened.append(panel)
    except BaseException:
        for device in reversed(opened):
            device.close()
        raise
    return Hardware(clock, camera, microphone, speaker, pad, panel, config.speech.cache_dir,
                    unit_synthesizer(config), recorded, sim)
