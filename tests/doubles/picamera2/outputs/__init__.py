"""Test double of ``picamera2.outputs`` (only the base ``Output``)."""
from .output import Output

__all__ = ["Output"]
