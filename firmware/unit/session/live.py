"""Live analysis as a session part: the audio level of every block, and faces and brightness
from the camera's analysis image once a second; sealed as ``analysis.json`` when the session
ends and handed to the quality checks."""
from __future__ import annotations

from drivers.audio import AudioBlock
from firmware.unit.session.monitor import LiveMonitor
from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.session_end import VIDEO_SAMPLES, VOICED

SAMPLE_EVERY_NS = 1_000_000_000


class LiveAnalysisPart(SessionPart):
    name = "live"

    def __init__(self, camera, audio_rate: int, faces=None) -> None:
        self._camera = camera
        self._rate = audio_rate
        self._faces = faces
        self.monitor: LiveMonitor | None = None
        self._next_ns = 0

    def session_started(self, ctx: SessionContext) -> None:
        self.monitor = LiveMonitor(self._camera, self._rate, faces=self._faces)
        self._next_ns = 0
        ctx.values[VIDEO_SAMPLES] = self.monitor.video
        ctx.values[VOICED] = self.monitor.voiced_fraction

    def audio_block(self, block: AudioBlock) -> None:
        monitor = self.monitor
        if monitor is not None:
            monitor.audio_block(block)

    def tick(self, ctx, node, now_ns: int) -> None:
        if self.monitor is not None and now_ns >= self._next_ns:
            self._next_ns = now_ns + SAMPLE_EVERY_NS
            self.monitor.sample_video()

    def session_ending(self, ctx: SessionContext) -> None:
        ctx.seal("analysis.json", self.monitor.to_json(), {"stream": "analysis"})

    def session_ended(self, ctx, summary) -> None:
        self.monitor = None
