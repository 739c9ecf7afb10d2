"""PP-OCRv4 in its worker process, reading the rendered documents at the camera's resolutions."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drivers.camera.documents import sample_application_form, sample_id_card
from drivers.camera.scenes import SceneRenderer
from drivers.errors import BadDriverArgument, DeviceMissingError, DriverError
from drivers.vision import DocumentReader, OcrTimeout, TextLine

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def reader():
    with DocumentReader(threads=2) as r:
        yield r


def frame(scene: str, size: tuple[int, int]) -> np.ndarray:
    return SceneRenderer(*size, scene=scene).render(12_345_678_900, 370)


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)], ids=["demo", "unit"])
def test_id_card_read_at_camera_resolution(reader, size):
    card = sample_id_card()
    lines = reader.read(frame("id_card", size))
    texts = [line.text for line in lines]
    assert card.number in texts
    assert card.name in texts
    assert all(isinstance(line, TextLine) and 0.0 <= line.score <= 1.0 for line in lines)


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)], ids=["demo", "unit"])
def test_application_number_read_at_camera_resolution(reader, size):
    form = sample_application_form()
    texts = [line.text for line in reader.read(frame("application_form", size))]
    assert any(form.application_no in t and "投保单号" in t for t in texts)


def test_boxes_are_in_the_callers_pixels(reader):
    """A 1080p frame is read at 1280 px inside the worker; its boxes come back in 1080p."""
    card = sample_id_card()
    lines = reader.read(frame("id_card", (1920, 1080)))
    number = next(line for line in lines if line.text == card.number)
    assert len(number.box) == 4
    xs = [x for x, _ in number.box]
    ys = [y for _, y in number.box]
    assert 500 < min(xs) < max(xs) < 1700 and 700 < min(ys) < max(ys) < 1080


def test_a_blank_image_has_no_text(reader):
    assert reader.read(np.full((360, 640, 3), 200, np.uint8)) == []


def test_release_then_read_starts_a_new_worker(reader):
    reader.prepare()
    first = reader.worker_pid
    assert first is not None
    reader.release()
    assert reader.worker_pid is None
    starts = reader.starts
    reader.read(np.full((64, 64, 3), 255, np.uint8))
    assert reader.starts == starts + 1 and reader.worker_pid not in (None, first)


def test_a_killed_worker_is_replaced(reader):
    reader.prepare()
    pid = reader.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    texts = [line.text for line in reader.read(frame("id_card", (640, 360)))]
    assert sample_id_card().number in texts
    assert reader.worker_pid != pid


@pytest.mark.parametrize("image", [np.zeros((100, 100), np.uint8),
                                   np.zeros((100, 100, 3), np.int16),
                                   np.zeros((5000, 100, 3), np.uint8), None])
def test_bad_images_refused_before_the_worker(image):
    r = DocumentReader()
    with pytest.raises(BadDriverArgument):
        r.read(image)
    assert r.starts == 0
    r.close()


@pytest.mark.parametrize("kwargs", [{"threads": 0}, {"max_side": 100}, {"idle_s": 0},
                                    {"timeout_s": -1}])
def test_bad_settings_refused(kwargs):
    with pytest.raises(BadDriverArgument):
        DocumentReader(**kwargs)


def test_a_worker_that_never_loads_times_out_and_is_killed(tmp_path):
    silent = tmp_path / "silent-python"
    silent.write_text("#!/bin/sh\nexec sleep 600\n")
    silent.chmod(0o755)
    with DocumentReader(python=str(silent), load_timeout_s=0.5) as r:
        with pytest.raises(OcrTimeout, match="did not load"):
            r.prepare()
        assert r.worker_pid is None


def test_a_missing_interpreter_is_named(tmp_path):
    with DocumentReader(python=str(tmp_path / "no-python")) as r:
        with pytest.raises(DeviceMissingError, match="cannot start"):
            r.prepare()


def test_close_is_safe_twice_and_final():
    r = DocumentReader()
    r.close()
    r.close()
    with pytest.raises(DriverError, match="closed"):
        r.read(np.zeros((64, 64, 3), np.uint8))


def test_model_files_check():
    DocumentReader().check()


def test_the_callers_process_never_loads_onnxruntime():
    script = ("import sys, numpy as np\n"
              "from drivers.vision import DocumentReader\n"
              "with DocumentReader() as r:\n"
              "    r.read(np.full((64, 64, 3), 255, np.uint8))\n"
              "assert 'onnxruntime' not in sys.modules, 'onnxruntime loaded in the parent'\n"
              "assert 'rapidocr_onnxruntime' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
