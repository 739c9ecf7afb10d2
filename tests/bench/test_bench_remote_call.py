"""The unit's CPU while a remote party's call runs (issue 17).

The unit: the remote tests' rig (tests/remote/remote_rig.py) — a session recorded on simulated
hardware (640x480 camera, 48 kHz microphone, a real Evidence store), and a CounterFeed as the
appliance builds it (15 fps, at most 640x360, the microphone). The remote party: the rig's
aiortc "browser" (a real face at 30 fps, a tone) in a *child process*, its signalling carried
over the child's stdin/stdout, so that this process's CPU time is the unit's alone: ICE, DTLS
and SRTP, decoding the party's H.264 and Opus, re-encoding their picture (libx264, software),
writing and sealing their segments, and encoding the counter's picture and microphone for
them.

Figure: this process's CPU time (``os.times``: user + system) over a window of ``WINDOW_S``
real seconds with the party connected, against the same session without a party (baseline:
one window before the call and one after it, same run), as a ratio and in % of one core, with
the call's CPU by thread. The simulated camera's sensor and H.264 encoder run in a worker
process of their own (standing in for the Pi's camera hardware and its hardware encoder): it
is not in the figure, its CPU is reported beside it (the counter's picture for the party is
the worker's analysis image, which picamera2 makes in the daemon on a Pi). The Pi 4 estimate
scales this machine's figures by 4-6x (slower per core).

A measurement window is a plain wait of fixed length (it measures, it synchronises nothing);
every other wait is on an event.
"""
from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.evidence.verify import verify_path
from firmware.unit.remote import RemoteOptions, RemoteParty, signalling_pair
from tests.remote.remote_rig import WAIT, UnitRig

REPO = Path(__file__).resolve().parents[2]
WINDOW_S = 20.0
PI4_SLOWER = (4, 6)

#: the remote party's process: the rig's BrowserPeer with signalling over stdin/stdout (one
#: JSON object a line: {"sig": message} either way; {"ctl": ...} for the bench's control)
BROWSER = r"""
import json, os, sys, threading
sys.path.insert(0, os.getcwd())
from tests.remote.remote_rig import BrowserPeer

out_lock = threading.Lock()
def put(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

class PipeSignalling:
    def __init__(self):
        self._callback = None
        self.stop = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
    def _read(self):
        for line in sys.stdin:
            obj = json.loads(line)
            if "sig" in obj and self._callback is not None:
                self._callback(obj["sig"])
            elif obj.get("ctl") == "stop":
                break
        self.stop.set()
    def send(self, message):
        put({"sig": message})
    def on_message(self, callback):
        self._callback = callback
    def close(self):
        pass

signalling = PipeSignalling()
browser = BrowserPeer(signalling, sys.argv[1])
browser.join()
browser.wait_received(video=15, audio=50)
put({"ctl": "joined"})
signalling.stop.wait()
received = dict(browser.received)
browser.close()
t = os.times()
put({"ctl": "done", "received": received, "cpu_s": t.user + t.system,
     "errors": [repr(e) for e in browser.errors]})
"""


class RemoteBrowserProcess:
    """The child process and the unit's end of its signalling."""

    def __init__(self, wav: Path) -> None:
        self.unit_end, self._remote_end = signalling_pair()
        self._proc = subprocess.Popen([sys.executable, "-c", BROWSER, str(wav)], cwd=REPO,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, bufsize=1)
        self._write_lock = threading.Lock()
        self.control: queue.Queue[dict] = queue.Queue()
        self._remote_end.on_message(lambda m: self._write({"sig": m}))
        self._reader = threading.Thread(target=self._read, name="bench-browser-pipe",
                                        daemon=True)
        self._reader.start()

    def _write(self, obj: dict) -> None:
        with self._write_lock:
            if self._proc.poll() is None:
                self._proc.stdin.write(json.dumps(obj) + "\n")
                self._proc.stdin.flush()

    def _read(self) -> None:
        for line in self._proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue     # a library's stray print
            if "sig" in obj:
                self._remote_end.send(obj["sig"])
            else:
                self.control.put(obj)
        self.control.put({"ctl": "exited", "rc": self._proc.wait()})

    def expect(self, ctl: str, timeout: float = WAIT) -> dict:
        got = self.control.get(timeout=timeout)
        assert got["ctl"] == ctl, f"the remote party's process said {got}, not {ctl!r}"
        return got

    def stop(self) -> dict:
        self._write({"ctl": "stop"})
        done = self.expect("done")
        self._proc.stdin.close()
        self._proc.wait(WAIT)
        return done

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._remote_end.close()


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def thread_cpu() -> dict[int, float]:
    """CPU seconds of each live thread of this process (Linux /proc), by native id."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except FileNotFoundError:     # ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def by_thread(before: dict[int, float], after: dict[int, float], wall: float) -> dict[str, float]:
    """% of one core per kind of thread (Python's names, digits folded; threads Python did not
    start, i.e. the codecs' own, as "native"), largest first, those under 0.5 % left out."""
    names = {t.native_id: re.sub(r"\d+", "N", t.name) for t in threading.enumerate()}
    groups: dict[str, float] = {}
    for tid, cpu in after.items():
        name = names.get(tid, "native")
        groups[name] = groups.get(name, 0.0) + cpu - before.get(tid, 0.0)
    return {k: round(100 * v / wall, 1)
            for k, v in sorted(groups.items(), key=lambda kv: -kv[1]) if 100 * v / wall >= 0.5}


def camera_worker() -> int:
    """The pid of this process's simulated camera worker (drivers.camera.sensor_worker)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if ppid == me and b"sensor_worker" in cmdline:
            return int(entry.name)
    raise AssertionError("the simulated camera's worker process was not found")


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Window:
    cpu_s: float           # this process (the unit's daemon side)
    wall_s: float
    camera_s: float        # the simulated camera's worker process
    threads: dict[str, float]

    @property
    def pct(self) -> float:
        return 100 * self.cpu_s / self.wall_s

    @property
    def camera_pct(self) -> float:
        return 100 * self.camera_s / self.wall_s


def window(camera_pid: int, seconds: float = WINDOW_S) -> Window:
    """CPU of this process (in all and by thread) and of the camera's worker over a fixed
    wait."""
    threads0, cam0 = thread_cpu(), process_cpu(camera_pid)
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
    return Window(cpu, wall, process_cpu(camera_pid) - cam0,
                  by_thread(threads0, thread_cpu(), wall))


def test_unit_cpu_during_a_remote_call(tmp_path, device_key, record_result) -> None:
    rig = UnitRig(tmp_path, device_key)
    browser: RemoteBrowserProcess | None = None
    party: RemoteParty | None = None
    try:
        rig.watch.wait_count(2, "SEGMENT", stream="video")
        camera_pid = camera_worker()
        before = window(camera_pid)

        browser = RemoteBrowserProcess(rig.wav)
        party = RemoteParty(rig.evidence, rig.clock, rig.session, "p1", browser.unit_end,
                            rig.feed, options=RemoteOptions(), on_fault=rig.faults.append)
        party.start()
        browser.expect("joined", timeout=60)
        assert party.wait_connected(WAIT)
        rig.watch.wait_count(2, "SEGMENT", stream="remote_video")
        start = party.status()
        call = window(camera_pid)
        end = party.status()
        done = browser.stop()
        party.close()
        closed_state = party.status()

        after = window(camera_pid)
        stats: Any = rig.finish()
    finally:
        if party is not None:
            party.close()
        if browser is not None:
            browser.close()
        rig.close()

    assert not rig.faults, rig.faults
    assert closed_state.fault is None and not done["errors"], (closed_state, done)
    report = verify_path(rig.evidence.spool.root)
    assert report.ok, report.findings

    base_pct = 100 * (before.cpu_s + after.cpu_s) / (before.wall_s + after.wall_s)
    base_camera = 100 * (before.camera_s + after.camera_s) / (before.wall_s + after.wall_s)
    added_pct = call.pct - base_pct
    frames = end.video_frames - start.video_frames
    audio_s = (end.audio_samples - start.audio_samples) / 48_000
    lo, hi = PI4_SLOWER
    record_result(
        "remote_call_unit_cpu",
        window_s=WINDOW_S,
        baseline_cpu_pct=round(base_pct, 1),
        baseline_before_pct=round(before.pct, 1),
        baseline_after_pct=round(after.pct, 1),
        call_cpu_pct=round(call.pct, 1),
        ratio=round(call.pct / base_pct, 2),
        added_cpu_pct=round(added_pct, 1),
        pi4_call_pct_of_one_core=f"{call.pct * lo:.0f}-{call.pct * hi:.0f}",
        pi4_added_pct_of_one_core=f"{added_pct * lo:.0f}-{added_pct * hi:.0f}",
        call_threads_pct=call.threads,
        camera_worker_baseline_pct=round(base_camera, 1),
        camera_worker_call_pct=round(call.camera_pct, 1),
        party_video_fps=round(frames / call.wall_s, 1),
        party_audio_s_per_s=round(audio_s / call.wall_s, 2),
        party_gaps=end.gaps,
        counter_frames_to_party=done["received"]["video"],
        remote_process_cpu_s=round(done["cpu_s"], 1),
        counter_frames=stats.frames,
        counter_dropped_frames=stats.dropped_frames,
    )
