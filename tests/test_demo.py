"""`dualrec demo` end to end, as a person runs it: exit 0, a verified session, real media that
only the insurer's key reads, and the review copy made from it."""
from __future__ import annotations

import io
import subprocess
import sys
import wave

import av

from firmware.evidence.crypto import MediaDecryptor, is_encrypted, load_insurer_private_key


def test_demo_runs_the_bank_template_end_to_end(tmp_path):
    out = subprocess.run([sys.executable, "-m", "firmware.cli.main", "demo", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "verify      INTACT" in text and "script      complete" in text
    assert "quality     pass" in text
    sessions = list((tmp_path / "spool" / "sessions").iterdir())
    assert len(sessions) == 1
    session = sessions[0]
    files = sorted(p.name for p in session.iterdir())
    assert {"analysis.json", "signature-signature.png", "customer-id-photo-1.jpg",
            "session-key.json"} <= set(files)
    video, audio = session / "video-000002.h264", session / "audio-000002.wav"
    assert is_encrypted(video) and is_encrypted(audio)  # a stolen SD card reads nothing
    dec = MediaDecryptor(load_insurer_private_key(tmp_path / "insurer" / "insurer-x25519.key"))
    with av.open(io.BytesIO(dec.open(video)), format="h264") as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 29
    with wave.open(io.BytesIO(dec.open(audio))) as w:
        assert w.getframerate() == 48000 and w.getnframes() >= 47_000
    verify = subprocess.run([sys.executable, "-m", "firmware.cli.main", "verify",
                             str(tmp_path / "spool")], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout  # no key needed to verify
    no_key = subprocess.run([sys.executable, "-m", "firmware.cli.main", "export", str(session),
                             "--out", str(tmp_path / "r0")], capture_output=True, text=True)
    assert no_key.returncode == 2 and "--key" in no_key.stderr
    review = subprocess.run([sys.executable, "-m", "firmware.cli.main", "export", str(session),
                             "--out", str(tmp_path / "review"), "--key",
                             str(tmp_path / "insurer" / "insurer-x25519.key")],
                            capture_output=True, text=True, timeout=300)
    assert review.returncode == 0, review.stdout + review.stderr
    with av.open(str(tmp_path / "review" / "review.mp4")) as mp4:
        assert {s.type for s in mp4.streams} == {"video", "audio"}
