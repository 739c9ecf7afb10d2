"""Real sessions for the export tests: the real recorder on simulated hardware (camera "face"
scene, a tone on the microphone, the demo signature replayed on the pad), with the session
flow's EVENTs and SESSION_END added as docs/evidence-format.md section 7 describes."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from drivers.audio import open_microphone
from drivers.camera import Camera, FrameSink, open_camera
from drivers.clock import SimClock
from drivers.sigpad import ReplaySignaturePad, demo_recording
from firmware.evidence.store import Evidence
from firmware.evidence.keys import DeviceKey
from firmware.unit.recorder import Recorder
from firmware.unit.recorder.recorder import RecorderStats

WIDTH, HEIGHT, FPS = 320, 240, 30
RECORD_S = 6.0
NODES = (("consent", "录音录像告知", "statement"),
         ("intro", "销售人员自我介绍", "show_id"),
         ("sign", "投保人签名", "signature"))


class LateCamera(Camera):
    """The simulated camera, started ``delay_s`` after the recorder asks: a known A/V offset.
    Everything else is the real SimCamera."""

    def __init__(self, inner: Camera, delay_s: float) -> None:
        super().__init__(width=inner.width, height=inner.height, fps=inner.fps,
                         bitrate=inner.bitrate)
        self.inner, self.delay_s = inner, delay_s
        self._starter: threading.Thread | None = None

    def start(self, sink: FrameSink) -> None:
        def late() -> None:
            time.sleep(self.delay_s)
            self.inner.start(sink)
        self._starter = threading.Thread(target=late, name="late-camera", daemon=True)
        self._starter.start()

    def stop(self) -> None:
        if self._starter is not None:
            self._starter.join()
        self.inner.stop()

    def close(self) -> None:
        self.stop()
        self.inner.close()

    def analysis_frame(self):
        return self.inner.analysis_frame()

    def capture_jpeg(self):
        return self.inner.capture_jpeg()

    @property
    def health(self) -> str:
        return self.inner.health

    def drop_frames(self, n: int) -> None:
        self.inner.drop_frames(n)


@dataclass
class RecordedSession:
    """A sealed session and what the test knows about it from the spool itself (times are
    CLOCK_MONOTONIC ns)."""

    spool: Path
    session_dir: Path
    session_id: str
    stats: RecorderStats
    nodes: list[dict]
    findings: list[dict]
    frame_times: list[int]                  # every frame's time, from the .pts files
    audio_first_ns: int
    audio_end_ns: int                       # just after the last sample
    click_ns: int                           # capture time of the click's first loud sample
    gaps: list[tuple[int, int]] = field(default_factory=list)   # GAP records (start, end)
    width: int = WIDTH
    height: int = HEIGHT
    fps: int = FPS

    @staticmethod
    def first_loud(samples: np.ndarray) -> int | None:
        return first_loud(samples)

    @property
    def t0_ns(self) -> int:
        return min(self.frame_times[0], self.audio_first_ns)

    @property
    def end_ns(self) -> int:
        return max(self.frame_times[-1] + 1_000_000_000 // FPS, self.audio_end_ns)


CLICK_THRESHOLD = 0.6


def click_pcm(rate: int = 48_000) -> bytes:
    """10 ms of a loud 2 kHz square wave: a click well above the 0.3 tone."""
    n = np.arange(rate // 100)
    square = np.where((n * 4000 // rate) % 2 == 0, 0.9, -0.9)
    return (square * 32767).astype("<i2").tobytes()


def first_loud(samples: np.ndarray) -> int | None:
    """Index of the first sample above :data:`CLICK_THRESHOLD`, or None."""
    loud = np.flatnonzero(np.abs(samples) > CLICK_THRESHOLD)
    return int(loud[0]) if loud.size else None


def _read_back(spool: Path, sid: str) -> tuple[list[int], int, int, int, list[tuple[int, int]]]:
    """Frame times, audio start/end, the click's time and the gaps, read from the ledger and
    the sealed files (independently of the export code)."""
    import wave
    from firmware.evidence.ledger_files import ledger_files, read_lines
    frames, gaps = [], []
    audio_first = audio_end = click = None
    for path in ledger_files(spool / "ledger"):
        for line in read_lines(path):
            rec = line.record
            if rec is None or rec.session != sid:
                continue
            if rec.type == "GAP":
                gaps.append((rec.data["start_ns"], rec.data["end_ns"]))
            if rec.type != "SEGMENT":
                continue
            data, files = rec.data, [spool / f.path for f in rec.files]
            if data["stream"] == "video":
                pts = next(f for f in files if f.suffix == ".pts")
                frames += [int(x.split()[0]) for x in pts.read_text().splitlines()]
            elif data["stream"] == "audio":
                rate, first = data["rate"], data["first_sample_ns"]
                with wave.open(str(files[0])) as w:
                    pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768.0
                audio_first = first if audio_first is None else min(audio_first, first)
                end = first + len(pcm) * 1_000_000_000 // rate
                audio_end = end if audio_end is None else max(audio_end, end)
                k = first_loud(pcm)
                if click is None and k is not None:
                    click = first + k * 1_000_000_000 // rate
    return sorted(frames), audio_first, audio_end, click, gaps


def record_session(root: Path, *, camera_delay_s: float = 0.0, drop_frames: int = 0,
                   synced: bool = True) -> RecordedSession:
    """About RECORD_S seconds through the real recorder; three nodes, presses, a refusal, a
    signature, an analysis.json and a SESSION_END with nodes and quality findings."""
    clock = SimClock(realtime=True, synced=synced)
    evidence = Evidence.open(root / "spool", DeviceKey.generate(), clock)
    camera: Camera = open_camera("sim", clock=clock, width=WIDTH, height=HEIGHT, fps=FPS,
                                 scene="face")
    if camera_delay_s:
        camera = LateCamera(camera, camera_delay_s)
    mic = open_microphone("sim", clock=clock)
    mic.set_source("tone", freq=440, amplitude=0.3)
    pad = ReplaySignaturePad.from_file(demo_recording(), clock)
    recorder = Recorder(evidence, clock, camera, mic, pad)
    template = {"id": "bank-life", "version": "2024.1", "sha256": "ab" * 32,
                "title": "银行代理寿险 <双录>"}
    sid = evidence.start_session({"template": template, "mode": "av", "elder": False,
                                  "application_no": "A-0001&2", "people_sha256": "cd" * 32,
                                  "selftest": {"ok": True}})
    recorder.start(sid)
    node_s = RECORD_S / len(NODES)
    nodes, refusals = [], []
    for index, (node_id, title, kind) in enumerate(NODES):
        start = clock.monotonic_ns()
        evidence.event("node_start", {"node": node_id, "index": index, "title": title,
                                      "at_ns": start}, session_id=sid)
        evidence.event("prompt", {"node": node_id, "text_sha256": "0" * 64,
                                  "audio_sha256": "1" * 64, "start_ns": start,
                                  "end_ns": start + 800_000_000, "replay": False},
                       session_id=sid)
        time.sleep(node_s / 3)
        if index == 0:
            mic.feed(click_pcm(mic.rate))
        if index == 1:
            at = clock.monotonic_ns()
            evidence.event("next_refused", {"node": node_id, "reason": "min_duration",
                                            "at_ns": at}, session_id=sid)
            refusals.append({"node": node_id, "reason": "min_duration", "at_ns": at})
            if drop_frames:
                camera.drop_frames(drop_frames)
        time.sleep(node_s * 2 / 3)
        evidence_files = []
        if kind == "signature":
            rec = recorder.seal_signature(f"{node_id}-signature", {"node": node_id})
            evidence_files = [f["path"] for f in rec.body["files"]] if rec else []
        end = clock.monotonic_ns()
        evidence.event("press", {"button": "NEXT", "gesture": "press", "at_ns": end},
                       session_id=sid)
        evidence.event("node_end", {"node": node_id, "start_ns": start, "end_ns": end},
                       session_id=sid)
        nodes.append({"id": node_id, "title": title, "kind": kind, "start_ns": start,
                      "end_ns": end, "evidence": evidence_files})
    evidence.event("press", {"button": "RECORD", "gesture": "hold",
                             "at_ns": clock.monotonic_ns()}, session_id=sid)
    stats = recorder.stop()
    assert stats.frames > 0 and stats.first_sample_ns is not None
    first = min(t for t in (stats.first_frame_ns, stats.first_sample_ns) if t is not None)
    analysis = {"interval_ns": 100_000_000,
                "video": [{"t": first + s * 1_000_000_000, "faces": 1 if s != 2 else 0,
                           "brightness": 120} for s in range(int(RECORD_S))],
                "audio": [{"t": first + k * 100_000_000,
                           "rms_dbfs": round(-13.5 - 3 * float(np.sin(k / 5)), 1)}
                          for k in range(int(RECORD_S * 10))]}
    evidence.seal_bytes(sid, "analysis.json", json.dumps(analysis).encode(),
                        {"stream": "analysis"})
    findings = [{"check": "face_in_frame", "node": "intro", "start_ns": first + 2_000_000_000,
                 "end_ns": first + 3_000_000_000, "detail": "no face for 1 s <script>"}]
    evidence.end_session(sid, {"nodes": nodes, "refusals": len(refusals),
                               "stats": stats.as_dict(),
                               "clock": clock.sync_state().as_record(),
                               "quality": {"verdict": "review", "findings": findings}})
    evidence.close()
    camera.close()
    mic.close()
    spool = root / "spool"
    frames, audio_first, audio_end, click, gaps = _read_back(spool, sid)
    return RecordedSession(spool, spool / "sessions" / sid, sid, stats, nodes, findings,
                           frames, audio_first, audio_end, click, gaps)


@pytest.fixture(scope="session")
def plain_session(tmp_path_factory) -> RecordedSession:
    """Camera and microphone started together, nothing lost."""
    return record_session(tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="session")
def late_gappy_session(tmp_path_factory) -> RecordedSession:
    """The camera starts 0.5 s after the microphone, and 6 frames are dropped mid-way;
    the wall clock is not NTP-synced."""
    return record_session(tmp_path_factory.mktemp("late"), camera_delay_s=0.5, drop_frames=6,
                          synced=False)
