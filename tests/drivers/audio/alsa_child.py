"""One PyAudio scenario, run in a child process whose HOME holds the test's ``.asoundrc``.

Usage: ``python alsa_child.py SCENARIO CONFIG_JSON OUT_DIR``. Writes ``OUT_DIR/result.json``
(and ``OUT_DIR/pcm.npy`` for captures). alsa-lib caches its configuration per process and
PortAudio enumerates once, so each scenario gets a fresh process (see
:mod:`drivers.audio.alsa_files`). Not collected by pytest (no ``test_`` prefix).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from drivers.audio import open_microphone, open_speaker
from drivers.audio.base import AudioBlock
from drivers.audio.collect import CollectingSink, Gap
from drivers.clock import SystemClock
from drivers.errors import DriverError


def event_record(kind: str, payload: object) -> list:
    if isinstance(payload, AudioBlock):
        return [kind, payload.sample_index, payload.frames, payload.first_sample_ns]
    if isinstance(payload, Gap):
        return [kind, payload.start_ns, payload.end_ns, payload.reason]
    if isinstance(payload, tuple):
        return [kind, *payload]
    return [kind, payload]


def capture(cfg: dict, out: Path) -> dict:
    clock = SystemClock()
    flip = cfg.get("flip_on_lost")          # [symlink, new target]: the device "comes back"
    delay = cfg.get("sink_delay_s", 0.0)
    health_when_lost = []

    class Sink(CollectingSink):
        def microphone_lost(self, timestamp_ns: int, reason: str) -> None:
            health_when_lost.append(mic.health)
            if flip:
                os.unlink(flip[0])
                os.symlink(flip[1], flip[0])
            super().microphone_lost(timestamp_ns, reason)

    sink = Sink(on_block=(lambda block: time.sleep(delay)) if delay else None)
    started_ns = clock.monotonic_ns()
    mic = open_microphone("pyaudio", clock=clock, device=cfg.get("device"), rate=cfg["rate"],
                          channels=cfg.get("channels", 1), block_frames=cfg["block_frames"],
                          **cfg.get("options", {}))
    mic.start(sink)
    want = cfg["frames"]
    done = sink.wait_for(lambda s: bool(s.blocks) and bool(s.restored or not flip)
                         and s.blocks[-1].sample_index + s.blocks[-1].frames >= want,
                         timeout=30)
    health_running = mic.health
    mic.stop()
    health_stopped = mic.health
    mic.close()
    mic.close()
    np.save(out / "pcm.npy", sink.samples(cfg.get("channels", 1)))
    return {"done": done, "started_ns": started_ns, "device_name": mic.device_name,
            "timestamp_source": mic.timestamp_source,
            "events": [event_record(kind, payload) for kind, payload in sink.events],
            "health_running": health_running, "health_stopped": health_stopped,
            "health_when_lost": health_when_lost, "failure": repr(mic.failure)}


def play(cfg: dict, out: Path) -> dict:
    clock = SystemClock()
    results = []
    with open_speaker("pyaudio", clock=clock, device=cfg.get("device")) as speaker:
        for wav in cfg["wavs"]:
            playback = speaker.play(Path(wav))
            finished = playback.wait(20)
            results.append({"finished": finished, "completed": playback.completed,
                            "started_ns": playback.started_ns, "ended_ns": playback.ended_ns,
                            "error": repr(playback.error), "playing_after": speaker.playing,
                            "outfile": Path(cfg["outfile"]).read_bytes().hex()})
        name = speaker.device_name
    speaker.close()
    return {"clips": results, "device_name": name}


def missing(cfg: dict, out: Path) -> dict:
    clock = SystemClock()
    errors = {}
    for role, opener in (("microphone", open_microphone), ("speaker", open_speaker)):
        try:
            opener("pyaudio", clock=clock, device=cfg["device"]).close()
            errors[role] = None
        except DriverError as exc:
            errors[role] = [type(exc).__name__, isinstance(exc, FileNotFoundError), str(exc)]
    return errors


def main() -> None:
    scenario, config, out = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    result = {"capture": capture, "play": play, "missing": missing}[scenario](config, out)
    (out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
