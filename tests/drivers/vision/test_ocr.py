"""PP-OCRv4 in the vision worker, reading the rendered documents at the camera's resolutions."""
from __future__ import annotations

import numpy as np
import pytest

from drivers.camera.documents import sample_application_form, sample_id_card
from drivers.camera.scenes import SceneRenderer
from drivers.vision import TextLine, VisionService
from drivers.vision.model_files import OCR_MODELS, verified_path


@pytest.fixture(scope="module")
def service():
    with VisionService(threads=2) as s:
        yield s


def frame(scene: str, size: tuple[int, int]) -> np.ndarray:
    return SceneRenderer(*size, scene=scene).render(12_345_678_900, 370)


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)], ids=["demo", "unit"])
def test_id_card_read_at_camera_resolution(service, size):
    card = sample_id_card()
    lines = service.read_text(frame("id_card", size))
    texts = [line.text for line in lines]
    assert card.number in texts
    assert card.name in texts
    assert all(isinstance(line, TextLine) and 0.0 <= line.score <= 1.0 for line in lines)


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)], ids=["demo", "unit"])
def test_application_number_read_at_camera_resolution(service, size):
    form = sample_application_form()
    texts = [line.text for line in service.read_text(frame("application_form", size))]
    assert any(form.application_no in t and "投保单号" in t for t in texts)


def test_a_small_frame_is_read_at_its_own_size(service):
    """A 640x360 frame is under ``ocr_max_side``: read as it is, boxes in its pixels."""
    card = sample_id_card()
    lines = service.read_text(frame("id_card", (640, 360)))
    number = next(line for line in lines if line.text == card.number)
    assert all(0 <= x <= 640 and 0 <= y <= 360 for x, y in number.box)


def test_model_files_are_the_pinned_ones():
    for pinned in OCR_MODELS:
        assert verified_path(pinned).stat().st_size == pinned.size
