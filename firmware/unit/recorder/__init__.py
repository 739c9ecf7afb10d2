"""The recorder: devices' frames, audio blocks and strokes into sealed segments on the chain."""
from firmware.unit.recorder.recorder import Recorder, RecorderStats

__all__ = ["Recorder", "RecorderStats"]
