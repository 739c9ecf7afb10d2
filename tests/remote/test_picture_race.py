"""The session reads a remote party's latest picture while the media thread scales the same
frame for the recording. With the frame's shared built-in scaler this deadlocked swscale (it
hung the CI run in RemoteParty.latest_frame) or crashed the process within a few hundred
frames; each user now has a scaler of its own (firmware/unit/remote/picture_view.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_picture_and_the_recording_convert_one_frame_at_the_same_time():
    out = subprocess.run([sys.executable, "-m", "tests.remote.picture_race", "600"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, (out.returncode, out.stdout, out.stderr[-2000:])
    assert out.stdout.startswith("ok 600 frames encoded, 1800 pictures"), out.stdout
