"""The vision service on real models and real or rendered images: faces and brightness in the
camera's analysis image, a ticket's QR code photographed off a phone, a staff badge, the
rendered ID card read by PP-OCRv4; and the daemon's side of it free of OpenCV."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera.documents import sample_id_card
from drivers.camera.images import analysis_image
from drivers.camera.scenes import SceneRenderer
from drivers.vision import DocumentReader, Face, FrameAnalysis, TextLine, VisionService
from drivers.vision.codes import read_codes
from drivers.vision.faces import FaceDetector
from firmware.evidence.keys import DeviceKey
from firmware.people.qr import qr_image
from firmware.ticket import encode_ticket, ticket_from_spec
from tests.ticket.conftest import NOW, SAMPLE_SPEC, TICKET_ID
from tests.ticket.test_qr import phone_photo

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def service():
    with VisionService(threads=2) as s:
        yield s


@pytest.fixture(scope="module")
def ticket_text() -> str:
    # a fixed key: Ed25519 signs deterministically, so the QR is the same in every run (with a
    # new key each run, the code's modules changed and the phone photo's reads with them)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = DeviceKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    spec = json.loads(SAMPLE_SPEC.read_text(encoding="utf-8"), parse_float=Decimal)
    return encode_ticket(ticket_from_spec(spec, NOW, ticket_id=TICKET_ID), key.sign, key.public)


def analysed(scene: str, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    return analysis_image(SceneRenderer(*size, scene=scene).render(12_345_678_900, 370))


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


# -- faces and brightness ------------------------------------------------------------------------
@pytest.mark.parametrize("scene, expected", [("two_people", 2), ("customer_left", 1),
                                             ("pattern", 0), ("dark", 0)])
def test_faces_counted_through_the_service(service, scene, expected):
    analysis = service.analyse(analysed(scene))
    assert isinstance(analysis, FrameAnalysis)
    assert len(analysis.faces) == expected
    assert all(isinstance(f, Face) and 0.3 <= f.score <= 1.0 for f in analysis.faces)


def test_same_faces_and_brightness_as_in_process(service):
    """The worker runs the same detector: identical boxes, and the brightness the live
    monitor has always computed (the mean of the grey image)."""
    frame = analysed("two_people", (1920, 1080))
    analysis = service.analyse(frame)
    with FaceDetector() as detector:
        here = detector.detect(frame)
    assert [f.box for f in analysis.faces] == [f.box for f in here]
    assert [f.score for f in analysis.faces] == pytest.approx([f.score for f in here])
    assert analysis.brightness == int(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).mean())
    dark = service.analyse(analysed("dark"))
    assert dark.brightness < analysis.brightness // 2


def test_analysis_from_several_threads_at_once(service):
    frames = {"two_people": analysed("two_people"), "customer_left": analysed("customer_left")}
    expected = {name: service.analyse(frame) for name, frame in frames.items()}
    results: list[tuple[str, FrameAnalysis]] = []
    errors: list[BaseException] = []

    def look(name: str) -> None:
        try:
            for _ in range(4):
                results.append((name, service.analyse(frames[name])))
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=look, args=(name,)) for name in frames for _ in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 16
    assert all(result == expected[name] for name, result in results)


# -- QR codes ------------------------------------------------------------------------------------
def test_ticket_photographed_off_a_phone(service, ticket_text):
    """3.4 px a module in a 1080p still: read only after the code is located and enlarged,
    as an array and as the JPEG the camera makes."""
    photo = phone_photo(ticket_text, 300, angle=3, noise=3, blur=0.7)
    assert service.read_codes(photo) == []
    assert service.read_codes(photo, enlarge=True) == [ticket_text]
    assert service.read_codes(jpeg(photo, 95), enlarge=True) == [ticket_text]
    assert read_codes(photo, enlarge=True) == [ticket_text]    # the same code in-process


def test_badge_code_in_colour_grey_and_png(service):
    text = "DRSTAFF1:S0001:1:" + "A" * 86
    image = qr_image(text, module_px=4, label="S0001")
    assert service.read_codes(image) == [text]
    assert service.read_codes(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)) == [text]
    ok, png = cv2.imencode(".png", image)
    assert service.read_codes(png.tobytes()) == [text]


def test_no_code_in_a_scene(service):
    assert service.read_codes(analysed("two_people")) == []
    noise = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert service.read_codes(noise, enlarge=True) == []


# -- text ------------------------------------------------------------------------------------------
def test_rendered_id_card_read_through_the_service(service):
    card = sample_id_card()
    frame = SceneRenderer(1920, 1080, scene="id_card").render(12_345_678_900, 370)
    lines = service.read_text(frame)
    assert card.number in [line.text for line in lines]
    assert card.name in [line.text for line in lines]
    assert all(isinstance(line, TextLine) and 0.0 <= line.score <= 1.0 for line in lines)
    number = next(line for line in lines if line.text == card.number)
    xs, ys = [x for x, _ in number.box], [y for _, y in number.box]
    assert 500 < min(xs) < max(xs) < 1700 and 700 < min(ys) < max(ys) < 1080   # 1080p pixels
    from_still = [line.text for line in service.read_text(jpeg(frame))]
    assert card.number in from_still


def test_a_blank_image_has_no_text(service):
    assert service.read_text(np.full((360, 640, 3), 200, np.uint8)) == []


def test_document_reader_reads_through_its_own_worker():
    with DocumentReader(threads=2) as reader:
        frame = SceneRenderer(640, 360, scene="id_card").render(12_345_678_900, 370)
        assert sample_id_card().number in [line.text for line in reader.read(frame)]
        assert reader.worker_pid is not None and reader.starts == 1
        reader.release()
        assert reader.worker_pid is None
        reader.check()


# -- the daemon's side ---------------------------------------------------------------------------
def test_the_daemon_side_never_imports_opencv_or_onnxruntime(tmp_path, ticket_text):
    """Everything the unit asks of vision, and the badge and ticket readers it hands
    ``read_codes`` to, without OpenCV or onnxruntime in the asking process."""
    np.save(tmp_path / "faces.npy", analysed("two_people"))
    np.save(tmp_path / "card.npy", SceneRenderer(640, 360, scene="id_card").render(0, 0))
    (tmp_path / "ticket.jpg").write_bytes(jpeg(phone_photo(ticket_text, 450), 95))
    script = f"""
import sys
from pathlib import Path
import numpy as np
from drivers.vision import VisionService
import firmware.people.badge_reader, firmware.ticket.reader
d = Path({str(tmp_path)!r})
with VisionService() as vision:
    vision.check()
    assert len(vision.analyse(np.load(d / "faces.npy")).faces) == 2
    codes = vision.read_codes((d / "ticket.jpg").read_bytes(), enlarge=True)
    assert codes and codes[0].startswith("DRT1:"), codes
    assert any(line.text for line in vision.read_text(np.load(d / "card.npy")))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("cv2", "onnxruntime",
                                                             "rapidocr_onnxruntime"))
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_a_view_into_a_larger_frame_crosses_whole(service):
    frame = analysed("two_people", (1280, 720))
    view = frame[:, 40:]                          # not contiguous in memory
    assert not view.flags.c_contiguous
    with FaceDetector() as detector:
        assert [f.box for f in service.analyse(view).faces] == \
            [f.box for f in detector.detect(view)]
