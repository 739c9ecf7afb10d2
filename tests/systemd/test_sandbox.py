"""dualrec.service sets MemoryDenyWriteExecute=yes: no memory may be both writable and
executable, nor become executable later. numpy, PyAV/libx264, OpenCV, cryptography, espeak-ng and
ctypes (libffi's trampolines) must live with that. The kernel's own form of the same rule,
prctl(PR_SET_MDWE) (Linux 6.3+, inherited by children and kept across exec), lets a test run a
whole recording under it without systemd."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from firmware.evidence.verify import verify_path

#: Sets PR_SET_MDWE (65) with PR_MDWE_REFUSE_EXEC_GAIN (1), then execs its arguments.
MDWE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(f"PR_SET_MDWE: errno {ctypes.get_errno()}")
os.execvp(sys.argv[1], sys.argv[1:])
"""
PROBE = """
import mmap
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except PermissionError:
    print("refused")
else:
    print("allowed")
"""


@pytest.fixture(scope="module")
def mdwe() -> list[str]:
    prefix = [sys.executable, "-c", MDWE]
    out = subprocess.run([*prefix, sys.executable, "-c", PROBE], capture_output=True,
                         text=True, timeout=30)
    if out.returncode != 0 or out.stdout.strip() != "refused":
        pytest.skip(f"this kernel cannot deny write+execute memory (PR_SET_MDWE needs Linux "
                    f"6.3+): {out.stderr.strip() or out.stdout.strip()}")
    return prefix


def test_a_recording_under_memory_deny_write_execute(mdwe, start_daemon, sim_config):
    daemon = start_daemon(sim_config, prefix=mdwe)
    daemon.notify.wait_for("READY=1")
    daemon.wait_idle()   # the self-test ran camera (x264) and microphone, analysed with OpenCV
    out = daemon.cli("press", "RECORD")
    assert out.returncode == 0 and json.loads(out.stdout)["state"] == "recording", out.stderr
    got = daemon.notify.receive(2.5)
    assert sum(line == "WATCHDOG=1" for _t, line in got) >= 2, got   # frames are flowing
    assert daemon.cli("sim", "sigpad", "sign").returncode == 0
    assert daemon.cli("press", "RECORD", "--hold", "2.5").returncode == 0
    assert daemon.stop() == 0, daemon.log.read_text()
    report = verify_path(sim_config.parent / "spool")
    assert report.ok and len(report.sessions) == 1, report.to_text()


def test_ctypes_callbacks_and_the_camera_stack_import_under_it(mdwe):
    """What the picamera2 backend and the clock driver load, beyond the simulated daemon."""
    code = ("import ctypes, av, cv2, numpy, cryptography.hazmat.primitives.asymmetric.ed25519,"
            " gpiozero, evdev, pyaudio\n"
            "cb = ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)\n"
            "assert cb() == 7\n"
            "print('ok')")
    out = subprocess.run([*mdwe, sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
