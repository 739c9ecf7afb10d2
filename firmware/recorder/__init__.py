"""The recorder: devices' frames, audio blocks and strokes into sealed segments on the chain."""
from firmware.recorder.recorder import Recorder, RecorderStats

__all__ = ["Recorder", "RecorderStats"]
