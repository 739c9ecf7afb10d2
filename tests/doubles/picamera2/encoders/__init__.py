"""Test double of ``picamera2.encoders``: ``Encoder``, ``H264Encoder`` and ``Quality``."""
from .encoder import Encoder, Quality
from .h264_encoder import H264Encoder

__all__ = ["Encoder", "H264Encoder", "Quality"]
