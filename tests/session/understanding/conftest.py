"""A simulated unit with speech understanding (the answers part and the post-session speech
check), the real Kokoro voice and the real Whisper-base recogniser, for the issue 14 tests."""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from drivers.clock import SimClock
from firmware.config.loading import load_config, replace
from firmware.unit.appliance import Appliance
from firmware.unit.session.answers import AnswerPart
from kokoro_models import installed_kokoro
from session_helpers import wait_for
from spoken_lines import SpokenLines
from whisper_models import installed_whisper

SCRIPTS = Path(__file__).resolve().parent / "scripts"
RATE = 16_000


class UnderstandingAppliance(Appliance):
    """The appliance as ``[understanding] enabled`` wires it (``start_check=False``: the check
    is not started, as if the unit were switched off before it ran; failed checks are retried
    after a second, not a minute)."""

    start_check = True
    speech_check_retry_s = 1.0

    def _start_speech_check(self) -> None:
        if self.start_check:
            super()._start_speech_check()

    @property
    def answers(self) -> AnswerPart:
        return next(p for p in self.flow.parts if isinstance(p, AnswerPart))


@pytest.fixture(scope="session")
def models() -> Path:
    installed_kokoro()
    return installed_whisper()


@pytest.fixture(scope="session")
def spoken(models, tmp_path_factory):
    """The customer's and the salesperson's lines in the unit's own voice (rendered once)."""
    with SpokenLines(models, tmp_path_factory.mktemp("spoken-lines")) as lines:
        yield lines


def unit_config(root: Path, *, insurer_key: Path | None = None):
    cache = os.environ.get("DUALREC_SPEECH_CACHE") or str(root / "speech")
    config = replace(load_config(), drivers={"backend": "sim"},
                     spool={"path": str(root / "spool"), "min_free_mb": 64},
                     device={"key_file": str(root / "keys" / "device.key")},
                     speech={"cache_dir": cache}, control={"socket": ""},
                     camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000},
                     audio={"rate": RATE, "block_frames": 320},
                     session={"template": "answers-test", "scripts_dir": str(SCRIPTS)})
    if insurer_key is not None:
        config = replace(config, encryption={"insurer_public_key": str(insurer_key)})
    return config


def make_unit(config, *, speed: float = 3.0, start_check: bool = True) -> UnderstandingAppliance:
    cls = type("Unit", (UnderstandingAppliance,), {"start_check": start_check})
    app = cls(config, clock=SimClock(realtime=True, rate=speed, synced=True))
    app.hardware.camera.set_scene("face")
    app.hardware.microphone.set_source("tone", freq=50, amplitude=0.001)   # a quiet room
    app.flow.request_selftest()
    app.flow.wait_idle(60)
    wait_prepared = getattr(app.flow.prompter, "wait_prepared", None)
    if wait_prepared is not None:
        assert wait_prepared(900), "the prompts were not rendered"
    return app


def say(app: Appliance, samples_16k: np.ndarray) -> None:
    """The simulated microphone hears ``samples`` (16 kHz int16) from now on."""
    assert app.hardware.microphone.rate == RATE
    app.hardware.microphone.mix(samples_16k.astype(np.float64) / 32768.0)


def wait_prompts(app: Appliance, sid: str, node: str, count: int, notice_sha: str) -> None:
    """Until ``count`` plays of the node's own prompt (not the notice) are on the chain."""
    from session_helpers import session_events

    def done() -> bool:
        plays = [e for e in session_events(app, sid, "prompt")
                 if e["node"] == node and e["text_sha256"] != notice_sha and e["completed"]]
        return len(plays) >= count
    wait_for(done, timeout=120, what=f"prompt {count} of {node}")


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """This conftest's helpers for the test modules (conftest modules are not importable)."""
    return SimpleNamespace(make_unit=make_unit, unit_config=unit_config, say=say,
                           wait_prompts=wait_prompts, RATE=RATE)
