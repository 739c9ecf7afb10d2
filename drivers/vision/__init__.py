"""Seeing on the device: faces in the analysis image, text on a shown document.

:class:`FaceDetector` (OpenCV's ResNet-10 SSD face detector on ``cv2.dnn``) runs in the
caller's process; :class:`DocumentReader` runs PP-OCRv4 in a worker process. Importing this
package loads no model and no inference runtime: models load when the classes are made (faces)
or in the worker (OCR), each checked against its pinned SHA-256 first.
"""
from drivers.vision.faces import Face, FaceDetector
from drivers.vision.ocr import DocumentReader, OcrTimeout, TextLine

__all__ = ["DocumentReader", "Face", "FaceDetector", "OcrTimeout", "TextLine"]
