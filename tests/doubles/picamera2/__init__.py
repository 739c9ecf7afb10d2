"""A test double of the picamera2 library (which needs libcamera, found only on Raspberry Pi
OS): the API shape the camera driver uses, a simulated sensor, real H.264 from libx264.

Put ``tests/doubles`` first on ``sys.path`` inside a test (monkeypatch) to import it as
``picamera2``.
"""
from .picamera2 import Job, Picamera2
from .request import CompletedRequest

__all__ = ["CompletedRequest", "Job", "Picamera2"]
