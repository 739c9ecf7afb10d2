"""Seeing on the device: faces and brightness in the analysis image, QR codes (staff badges,
双录 tickets) and the text of a shown document.

:class:`VisionService` answers all of them from one worker process, where OpenCV (the res10
SSD face detector on ``cv2.dnn``, the QR decoders) and onnxruntime (PP-OCRv4) live; this
package's top level imports neither, so the daemon stays inside its memory budget. Office
tools and tests that want OpenCV in their own process import :mod:`drivers.vision.faces`
(:class:`~drivers.vision.faces.FaceDetector`) or :mod:`drivers.vision.codes`
(:func:`~drivers.vision.codes.read_codes`) by name. Importing this package loads no model.
"""
from drivers.vision.findings import CodeReader, Face, FrameAnalysis, Image, TextLine
from drivers.vision.ocr import DocumentReader, OcrTimeout
from drivers.vision.service import VisionService, VisionTimeout

__all__ = ["CodeReader", "DocumentReader", "Face", "FrameAnalysis", "Image", "OcrTimeout",
           "TextLine", "VisionService", "VisionTimeout"]
