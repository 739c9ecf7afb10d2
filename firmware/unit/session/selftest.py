"""The self-test before a session: lens not covered, microphone alive, disk enough for 30
minutes, clock synchronised. Its result goes on the chain; a failed blocking check refuses
RECORD with a clear LED/buzzer signal."""
from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from drivers.audio import AudioBlock, Microphone
from drivers.camera import Camera
from drivers.clock import Clock

COVERED_BRIGHTNESS = 25


@dataclass
class SelfTestResult:
    ok: bool
    at_ns: int
    checks: dict[str, dict] = field(default_factory=dict)

    def as_record(self) -> dict:
        return {"ok": self.ok, "at_ns": self.at_ns, "checks": self.checks}

    @property
    def failed(self) -> list[str]:
        return [k for k, c in self.checks.items() if not c["ok"] and c["blocking"]]


class _Probe:
    """Counts what the devices deliver during the test; keeps nothing."""

    def __init__(self) -> None:
        self.frames = 0
        self.blocks = 0
        self.peak = 0
        self.lost: str | None = None
        self.lock = threading.Lock()

    def outputframe(self, frame) -> None:
        self.frames += 1

    def frames_dropped(self, *args) -> None:
        pass

    def camera_lost(self, timestamp_ns: int, reason: str) -> None:
        self.lost = reason

    def camera_restored(self, timestamp_ns: int) -> None:
        self.lost = None

    def audioblock(self, block: AudioBlock) -> None:
        samples = np.frombuffer(block.pcm, dtype="<i2")
        with self.lock:
            self.blocks += 1
            if len(samples):
                self.peak = max(self.peak, int(np.abs(samples.astype(np.int32)).max()))

    def audio_gap(self, *args) -> None:
        pass

    def microphone_lost(self, timestamp_ns: int, reason: str) -> None:
        self.lost = reason

    def microphone_restored(self, timestamp_ns: int) -> None:
        pass


class SelfTest:
    """``bytes_per_second``: what a recording writes (video bitrate/8 + audio), to check that
    the spool's disk holds ``minutes`` of it on top of ``reserve_bytes``."""

    def __init__(self, camera: Camera, microphone: Microphone, clock: Clock, spool: Path, *,
                 bytes_per_second: int, minutes: int = 30, reserve_bytes: int = 0,
                 require_clock_sync: bool = False, probe_seconds: float = 0.8,
                 extra: dict[str, Callable[[], None]] | None = None) -> None:
        self.camera = camera
        self.extra = dict(extra or {})   # name -> a check that raises with what is wrong
        self.microphone = microphone
        self.clock = clock
        self.spool = Path(spool)
        self.bytes_needed = bytes_per_second * minutes * 60 + reserve_bytes
        self.minutes = minutes
        self.require_clock_sync = require_clock_sync
        self.probe_seconds = probe_seconds
        self.last: SelfTestResult | None = None

    def quick_checks(self) -> dict[str, dict]:
        """The checks that need no device: disk and clock (run again at every RECORD)."""
        free = shutil.disk_usage(self.spool).free
        sync = self.clock.sync_state()
        return {
            "disk": {"ok": free >= self.bytes_needed, "blocking": True,
                     "detail": f"{free // 2**20} MiB free, {self.bytes_needed // 2**20} MiB "
                               f"needed for {self.minutes} minutes"},
            "clock": {"ok": sync.synced, "blocking": self.require_clock_sync,
                      "detail": f"synced={sync.synced} est_error_us={sync.est_error_us}"},
        }

    def run(self) -> SelfTestResult:
        """Run the devices briefly and check them (about ``probe_seconds``)."""
        checks = self.quick_checks()
        probe = _Probe()
        brightness = None
        try:
            self.camera.start(probe)
            self.microphone.start(probe)
            deadline = time.monotonic() + self.probe_seconds
            while time.monotonic() < deadline:
                time.sleep(0.05)
            got = self.camera.analysis_frame()
            if got is not None:
                brightness = float(np.dot(got[0].reshape(-1, 3).mean(axis=0),
                                          (0.114, 0.587, 0.299)))
        except Exception as exc:  # a device that cannot start fails the test, with the reason
            probe.lost = probe.lost or str(exc)
        finally:
            for device in (self.camera, self.microphone):
                try:
                    device.stop()
                except Exception as exc:
                    probe.lost = probe.lost or f"stop failed: {exc}"
        checks["camera"] = {
            "ok": probe.frames > 0 and brightness is not None
            and brightness >= COVERED_BRIGHTNESS, "blocking": True,
            "detail": f"{probe.frames} frames, brightness "
                      f"{'none' if brightness is None else round(brightness)}"
                      + (f", {probe.lost}" if probe.lost else "")}
        checks["microphone"] = {
            "ok": probe.blocks > 0 and probe.peak > 0, "blocking": True,
            "detail": f"{probe.blocks} blocks, peak {probe.peak}"}
        for name, check in self.extra.items():   # the voice, the recogniser, the vision models
            try:
                check()
                checks[name] = {"ok": True, "blocking": True, "detail": "ready"}
            except Exception as exc:  # noqa: BLE001 - the reason is the check's result
                checks[name] = {"ok": False, "blocking": True, "detail": str(exc)[:300]}
        ok = all(c["ok"] or not c["blocking"] for c in checks.values())
        self.last = SelfTestResult(ok, self.clock.monotonic_ns(), checks)
        return self.last
