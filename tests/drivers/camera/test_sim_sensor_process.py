"""The simulated camera's sensor process: the owner stays free of media libraries, a sensor
that dies or hangs is the camera lost (never a hang), scenes survive a new sensor process, and
the sensor never outlives its owner."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import cv2
import pytest

from drivers.camera import CameraStateError, open_camera
from drivers.camera.documents import sample_id_card
from drivers.camera.sim import SimCamera
from drivers.clock import SimClock
from drivers.errors import BadDriverArgument, DeviceLostError, DeviceMissingError

ROOT = Path(__file__).resolve().parents[3]
FPS = 30
MEDIA_LIBRARIES = ("av", "cv2", "PIL", "skimage", "matplotlib", "scipy")


def sim_camera(clock: SimClock, **options: Any) -> SimCamera:
    camera = open_camera("sim", clock=clock, width=320, height=240, fps=FPS, **options)
    assert isinstance(camera, SimCamera)
    return camera


def brightness(camera: SimCamera, sink: Any) -> float:
    sink.wait_frames(len(sink.frames) + 2)
    got = camera.analysis_frame()
    assert got is not None
    return float(cv2.cvtColor(got[0], cv2.COLOR_BGR2GRAY).mean())


def wait_exit(pid: int, timeout_s: float = 10.0) -> bool:
    """Whether process ``pid`` (not necessarily our child) exits within ``timeout_s``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout_s)[0])
    finally:
        os.close(fd)


def running(pid: int) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        return not select.select([fd], [], [], 0)[0]
    finally:
        os.close(fd)


def owner_process(script: str) -> subprocess.Popen:
    """A Python process running ``script`` (which prints a JSON line when ready)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


@pytest.fixture
def owner() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_the_owner_imports_no_media_library(owner: list[subprocess.Popen]) -> None:
    """Every control and every product of the camera, and not one of OpenCV, PyAV, Pillow,
    scikit-image, matplotlib or SciPy in the process that owns it."""
    process = owner_process(f"""
        import json, sys, threading
        import numpy as np
        from drivers.camera import open_camera
        from drivers.clock import SimClock

        class Sink:
            def __init__(self):
                self.frames, self.cond = [], threading.Condition()
            def outputframe(self, frame):
                with self.cond:
                    self.frames.append(frame)
                    self.cond.notify_all()
            def frames_dropped(self, *a): pass
            def camera_lost(self, *a): pass
            def camera_restored(self, *a): pass
            def wait(self, n):
                with self.cond:
                    assert self.cond.wait_for(lambda: len(self.frames) >= n, 30)

        camera = open_camera("sim", clock=SimClock(realtime=False), width=320, height=240,
                             fps=30, scene="face")
        sink = Sink()
        camera.show_image(np.full((50, 80, 3), 200, np.uint8))
        camera.set_scene("two_people")
        camera.start(sink)
        sink.wait(10)
        camera.drop_frames(2)
        analysis, _ = camera.analysis_frame()
        jpeg, _ = camera.capture_jpeg()
        camera.unplug()
        camera.replug()
        sink.wait(len(sink.frames) + 5)
        camera.stop()
        sensor_pid = camera.sensor_pid
        camera.close()
        print(json.dumps({{"loaded": sorted(m for m in {list(MEDIA_LIBRARIES)!r}
                                            if m in sys.modules),
                          "analysis": list(analysis.shape), "jpeg": jpeg[:2].hex(),
                          "sensor_pid": sensor_pid, "frames": len(sink.frames)}}))
    """)
    owner.append(process)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    report = json.loads(out)
    assert report["loaded"] == []
    assert report["analysis"] == [240, 320, 3] and report["jpeg"] == "ffd8"
    assert report["sensor_pid"] not in (None, process.pid) and report["frames"] >= 15


def test_a_killed_sensor_is_the_camera_lost_and_start_brings_a_new_one(sim_clock: SimClock,
                                                                      sink: Any) -> None:
    with sim_camera(sim_clock, scene="dark") as camera:
        camera.start(sink)
        assert brightness(camera, sink) < 30
        first_pid = camera.sensor_pid
        os.kill(first_pid, signal.SIGKILL)
        sink.wait_for(lambda s: s.of_kind("lost"))
        [(_, lost_ns, reason)] = sink.of_kind("lost")
        assert "sensor process" in reason and "exited" in reason and str(first_pid) in reason
        assert lost_ns >= sink.frames[-1].timestamp_ns
        assert camera.health == "lost" and camera.failure == reason
        assert camera.analysis_frame() is None
        with pytest.raises(DeviceLostError, match="sensor process"):
            camera.capture_jpeg()
        camera.stop()
        assert camera.health == "stopped"
        delivered = len(sink.frames)
        camera.start(sink)
        assert camera.sensor_pid not in (None, first_pid)
        assert brightness(camera, sink) < 30  # the new sensor still shows the dark room
        assert camera.health == "ok"
    second_run = sink.frames[delivered:]
    assert second_run[0].index == 0 and second_run[0].keyframe


def test_a_hung_sensor_is_killed_and_the_camera_lost(sim_clock: SimClock, sink: Any) -> None:
    with sim_camera(sim_clock, sensor_timeout_s=1.0) as camera:
        camera.start(sink)
        sink.wait_frames(5)
        pid = camera.sensor_pid
        os.kill(pid, signal.SIGSTOP)  # alive, but it answers nothing any more
        sink.wait_for(lambda s: s.of_kind("lost"), timeout=30)
        [(_, _, reason)] = sink.of_kind("lost")
        assert "did not answer" in reason and "killed" in reason
        assert camera.health == "lost"
        assert not running(pid)
        camera.stop()


def test_the_sensor_ignores_interrupts_meant_for_its_owner(sim_clock: SimClock,
                                                           sink: Any) -> None:
    """Ctrl-C and systemd's SIGTERM reach the whole process group: the owner decides."""
    with sim_camera(sim_clock) as camera:
        camera.start(sink)
        sink.wait_frames(3)
        pid = camera.sensor_pid
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        sink.wait_frames(len(sink.frames) + 30)
        assert camera.sensor_pid == pid and camera.health == "ok"
    assert not running(pid)  # close() ended it


def test_control_errors_come_back_as_driver_errors(sim_clock: SimClock, sink: Any) -> None:
    with sim_camera(sim_clock) as camera:
        pid = camera.sensor_pid
        with pytest.raises(BadDriverArgument, match="'beach'"):
            camera.set_scene("beach")
        with pytest.raises(BadDriverArgument, match="takes no content"):
            camera.set_scene("face", card=sample_id_card())
        with pytest.raises(BadDriverArgument, match="IdCard"):
            camera.set_scene("id_card", card="李明华")
        with pytest.raises(BadDriverArgument, match="cannot be sent"):
            camera.set_scene("id_card", card=lambda: None)
        with pytest.raises(BadDriverArgument, match="BGR"):
            camera.show_image([[0, 0, 0]])  # type: ignore[arg-type]
        assert camera.sensor_pid == pid and camera.scene == "pattern"  # nothing broke
        camera.set_scene("id_card", card=sample_id_card())
        assert camera.scene == "id_card"
        camera.start(sink)
        assert brightness(camera, sink) > 80


def test_a_closed_camera_leaves_no_process_and_refuses_scenes(sim_clock: SimClock,
                                                              sink: Any) -> None:
    camera = sim_camera(sim_clock)
    pid = camera.sensor_pid
    camera.start(sink)
    sink.wait_frames(2)
    camera.close()
    assert camera.sensor_pid is None and not running(pid)
    with pytest.raises(CameraStateError, match="closed"):
        camera.set_scene("face")
    camera.close()


def test_frames_keep_the_owners_clock_at_any_rate(sink: Any) -> None:
    """The owner's clock paces and stamps every frame, here one running 20 times as fast."""
    clock = SimClock(realtime=True, rate=20.0)
    with sim_camera(clock) as camera:
        start_ns = clock.monotonic_ns()
        camera.start(sink)
        sink.wait_frames(40)
        now_ns = clock.monotonic_ns()
    stamps = [f.timestamp_ns for f in sink.frames]
    assert start_ns <= stamps[0] and stamps[39] <= now_ns
    assert [s - stamps[0] for s in stamps] == [i * 1_000_000_000 // FPS
                                               for i in range(len(stamps))]


@pytest.mark.parametrize("fork_first", [False, True], ids=["owner-killed", "socket-inherited"])
def test_the_sensor_dies_with_its_owner(owner: list[subprocess.Popen], fork_first: bool) -> None:
    """Killed owner: the sensor sees its socket close. With the socket still open in a forked
    copy of the owner, the sensor notices it was re-parented."""
    process = owner_process(f"""
        import json, os, sys, time
        from drivers.camera import DiscardFrames, open_camera
        from drivers.clock import SystemClock

        camera = open_camera("sim", clock=SystemClock(), width=320, height=240, fps=10)
        camera.start(DiscardFrames())
        copy = os.fork() if {fork_first!r} else None
        if copy == 0:
            sys.stdin.read()  # the copy holds the socket until the test closes its stdin
            os._exit(0)
        print(json.dumps({{"sensor_pid": camera.sensor_pid, "copy_pid": copy}}), flush=True)
        sys.stdin.read()
    """)
    owner.append(process)
    report = json.loads(process.stdout.readline())
    sensor_pid = report["sensor_pid"]
    assert running(sensor_pid)
    process.kill()
    process.wait()
    try:
        assert wait_exit(sensor_pid), "the sensor process outlived its owner"
    finally:
        process.stdin.close()  # lets a forked copy exit
        if report["copy_pid"] is not None:
            wait_exit(report["copy_pid"])


def test_a_library_the_sensor_lacks_is_named(sim_clock: SimClock, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A sensor process that cannot load says which package is missing, from open_camera."""
    shadow = tmp_path / "av"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'av'\", name='av')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # found before the installed PyAV
    with pytest.raises(DeviceMissingError, match="Python package 'av'"):
        sim_camera(sim_clock)
