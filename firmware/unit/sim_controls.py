"""Simulated hardware driven from a shell (``dualrec sim camera scene scene=dark``): only on
simulated hardware, through the devices' own test controls."""
from __future__ import annotations

from typing import Any

from drivers.sigpad import load_events
from firmware.unit.control import ControlError
from firmware.unit.hardware import SAMPLE_SIGNATURE, Hardware


def sim_control(hw: Hardware, req: dict[str, Any]) -> dict[str, Any]:
    if not hw.simulated:
        raise ControlError("sim controls exist only on simulated hardware")
    device, action = req.get("device"), req.get("action")
    targets = {"camera": hw.camera, "microphone": hw.microphone, "sigpad": hw.pad}
    if device not in targets or targets[device] is None:
        raise ControlError(f"device {device!r}: one of camera, microphone, sigpad")
    target = targets[device]
    if action in ("unplug", "replug"):
        getattr(target, action)()
    elif device == "camera" and action == "scene":
        target.set_scene(str(req.get("scene", "face")))
    elif device == "camera" and action == "drop":
        target.drop_frames(int(req.get("frames", 3)))
    elif device == "microphone" and action == "source":
        target.set_source(str(req.get("source", "speech")))
    elif device == "sigpad" and action == "sign":
        _info, events = load_events(SAMPLE_SIGNATURE)
        target.play(events, wait=bool(req.get("wait", True)))
    else:
        raise ControlError(f"{device}: unknown action {action!r}")
    return {}
