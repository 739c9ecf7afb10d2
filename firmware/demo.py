"""``dualrec demo``: a complete session, sealed, verified and summarised."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from drivers.clock import SystemClock
from firmware.evidence import Evidence
from firmware.keys import DeviceKey
from firmware.verifier import verify_path


def run_demo(out: Path | None) -> int:
    out = Path(out) if out else Path(tempfile.mkdtemp(prefix="dualrec-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    key = DeviceKey.load_or_create(out / "keys" / "device.key")
    clock = SystemClock()
    with Evidence.open(out / "spool", key, clock) as evidence:
        sid = evidence.start_session({"template": "synthetic"})
        for i in range(5):
            evidence.seal_bytes(sid, f"video-{i:06d}.h264", os.urandom(50_000),
                                {"stream": "video", "index": i})
        evidence.event("press", {"button": "NEXT"}, session_id=sid)
        evidence.end_session(sid)
    report = verify_path(out / "spool")
    print(f"session {sid}\n{report.to_text()}")
    return 0 if report.ok else 1
