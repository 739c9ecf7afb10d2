"""Fixtures shared by the whole suite: real keys, a controllable clock, a spool with sessions."""
from __future__ import annotations

import os
import sys
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.clock import SimClock
from drivers.worker_environment import QUIET
from firmware.evidence.store import Evidence
from firmware.evidence.keys import DeviceKey

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """Prompts rendered by the voice are shared by every test (and kept between runs): they
    are cached by the hash of text, voice, pace and model, so sharing changes nothing else.
    onnxruntime's telemetry is off as on the unit (drivers/worker_environment.py)."""
    os.environ.setdefault("DUALREC_SPEECH_CACHE",
                          str(Path(sys.prefix) / "share" / "dualrec-speech-cache"))
    os.environ.update(QUIET)     # onnxruntime loaded in the tests' own process stays quiet too


def pytest_collection_modifyitems(config, items):
    if os.environ.get("DUALREC_HARDWARE") == "1":
        return
    skip = pytest.mark.skip(reason="needs a real Raspberry Pi (set DUALREC_HARDWARE=1 on one)")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(realtime=True)


@pytest.fixture
def device_key(tmp_path) -> DeviceKey:
    return DeviceKey.load_or_create(tmp_path / "keys" / "device.key")


def wav_bytes(samples: int = 4800, rate: int = 48000) -> bytes:
    pcm = b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(samples))
    header = (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
              + b"data" + struct.pack("<I", len(pcm)))
    return header + pcm


@dataclass
class BuiltSpool:
    root: Path
    key: DeviceKey
    sessions: list[str]
    files: dict[str, str]   # kind -> a path (relative to root) of a file of that kind


def build_spool(root: Path, key: DeviceKey, clock: SimClock, sessions: int = 2) -> BuiltSpool:
    """A spool made through the real seal path, with one file of each kind per session."""
    files: dict[str, str] = {}
    ids = []
    with Evidence.open(root, key, clock, checkpoint_every=10) as ev:
        for n in range(sessions):
            sid = ev.start_session({"template": "test", "n": n})
            ids.append(sid)
            for i in range(3):
                video = ev.new_file(sid, f"video-{i:06d}.h264")
                video.write(b"\x00\x00\x00\x01\x67" + os.urandom(3000))
                pts = ev.new_file(sid, f"video-{i:06d}.pts")
                pts.write(b"".join(b"%d 1\n" % (10**9 + k * 33_333_333) for k in range(30)))
                ev.seal(sid, [video, pts], {"stream": "video", "index": i})
                ev.seal_bytes(sid, f"audio-{i:06d}.wav", wav_bytes(), {"stream": "audio"})
            ev.event("press", {"button": "NEXT"}, session_id=sid)
            ev.seal_bytes(sid, "signature-01.json", b'{"strokes":[[1,2,3,4]]}',
                          {"stream": "signature"})
            ev.seal_bytes(sid, "photo-01.jpg", b"\xff\xd8\xff\xe0" + os.urandom(2000),
                          {"stream": "photo"})
            ev.end_session(sid)
            if n == 0:
                rel = lambda name: f"sessions/{sid}/{name}"  # noqa: E731
                files = {"video": rel("video-000001.h264"), "pts": rel("video-000001.pts"),
                         "audio": rel("audio-000002.wav"), "signature": rel("signature-01.json"),
                         "photo": rel("photo-01.jpg")}
    return BuiltSpool(root, key, ids, files)


@pytest.fixture
def spool(tmp_path, device_key, clock) -> BuiltSpool:
    return build_spool(tmp_path / "spool", device_key, clock)


@pytest.fixture
def spool_factory():
    """build_spool, for tests that need more than one spool."""
    return build_spool
