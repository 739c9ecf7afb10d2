"""`dualrec demo` end to end, as a person runs it: exit 0, a verified session, real media."""
from __future__ import annotations

import subprocess
import sys
import wave

import av


def test_demo_runs_the_bank_template_end_to_end(tmp_path):
    out = subprocess.run([sys.executable, "-m", "firmware.cli", "demo", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "verify      INTACT" in text and "script      complete" in text
    assert "quality     pass" in text
    sessions = list((tmp_path / "spool" / "sessions").iterdir())
    assert len(sessions) == 1
    files = sorted(p.name for p in sessions[0].iterdir())
    assert {"analysis.json", "signature-signature.png", "customer-id-photo-1.jpg"} <= set(files)
    video = sessions[0] / "video-000002.h264"
    with av.open(str(video)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 29
    with wave.open(str(sessions[0] / "audio-000002.wav")) as w:
        assert w.getframerate() == 48000 and w.getnframes() >= 47_000
    verify = subprocess.run([sys.executable, "-m", "firmware.cli", "verify",
                             str(tmp_path / "spool")], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout
