"""The signature pad: a USB pen tablet on evdev, or recorded strokes replayed on the clock."""
from pathlib import Path

from drivers.clock import Clock
from drivers.errors import BadDriverArgument
from drivers.sigpad.base import PadInfo, PadSink, PenSample, SignaturePad
from drivers.sigpad.evdev_pad import EvdevSignaturePad
from drivers.sigpad.parser import EventParser, RawEvent, StrokeEnd
from drivers.sigpad.replay import (ReplaySignaturePad, load_events, save_events,
                                   strokes_to_events)
from drivers.sigpad.signature import Signature


def demo_recording() -> Path:
    """The shipped recording of a signature (王小明) for the demo and the simulated pad."""
    return Path(__file__).resolve().parent / "samples" / "signature-demo.jsonl"


def open_signature_pad(backend: str, *, clock: Clock, device: str | None = None,
                       recording: str | Path | None = None,
                       reconnect_s: float | None = 1.0) -> SignaturePad:
    """Open the pad on ``backend``.

    "evdev": ``device`` (a /dev/input/event* path or part of the pad's name) on the kernel's
    evdev; :class:`~drivers.errors.DeviceMissingError` names it when it is not there.
    "sim": a :class:`ReplaySignaturePad` that plays ``recording`` (default: the demo signature)
    once started, then whatever its test controls add.
    """
    if backend == "evdev":
        if not device:
            raise BadDriverArgument("evdev signature pad: a device path or name is needed")
        return EvdevSignaturePad(device, clock, reconnect_s=reconnect_s)
    if backend == "sim":
        return ReplaySignaturePad.from_file(recording or demo_recording(), clock)
    raise BadDriverArgument(f"signature pad backend {backend!r}: one of 'evdev', 'sim'")


__all__ = ["EventParser", "EvdevSignaturePad", "PadInfo", "PadSink", "PenSample", "RawEvent",
           "ReplaySignaturePad", "Signature", "SignaturePad", "StrokeEnd", "demo_recording",
           "load_events", "open_signature_pad", "save_events", "strokes_to_events"]
