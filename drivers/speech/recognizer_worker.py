"""The recogniser's worker process: faster-whisper (CTranslate2) loaded once, fed over a pipe.

It runs in its own process (``python -c "…main(sys.argv[1:])" --fd N --config JSON``, started
by :class:`drivers.speech.recognizer.Recognizer` with one end of a socket pair as fd N, wrapped
on both sides in a ``multiprocessing.connection.Connection``) so that the 330-450 MB the model
and CTranslate2 take go back to the system when it exits, and the daemon's memory stays small.

Protocol on the pipe (all messages are tuples; the owner is trusted, the worker is ours):

- worker → owner, once: ``("ready", {"load_s", "peak_rss_bytes"})`` or
  ``("unusable", message)`` naming the model file at fault (then it exits);
- owner → worker: ``("transcribe", pcm_bytes)`` with 16 kHz mono signed 16-bit
  little-endian PCM, answered by ``("result", {...})`` or ``("error", reason)``;
  ``("stop",)`` ends it;
- with no request for ``idle_s`` seconds the worker exits by itself (exit code 0), which gives
  its memory back; the owner starts a new one when it next needs it.

Nothing here imports faster-whisper before :func:`serve` runs, so importing this module costs
nothing in the owner.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from drivers.errors import DeviceMissingError
from drivers.speech import whisper_assets
from drivers.speech.pcm import SAMPLE_RATE

FRAMES_PER_S = 100                  # Whisper's log-mel frames (10 ms hop)


@dataclass(frozen=True)
class WorkerConfig:
    """What the worker needs to load and run the model (picklable; see ``Recognizer``)."""

    model_dir: str                  # the models directory (whisper-base/ is under it)
    verify: bool                    # check every file's size and SHA-256 before loading
    cpu_threads: int
    idle_s: float
    beam_size: int
    initial_prompt: str | None
    vad: bool
    temperatures: tuple[float, ...]
    encoder_min_s: float | None     # None: Whisper's fixed 30 s window


    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        fields = json.loads(text)
        fields["temperatures"] = tuple(fields["temperatures"])
        return cls(**fields)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the worker process (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="recognizer_worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    serve(Connection(args.fd), WorkerConfig.from_json(args.config))


def serve(conn: Connection, config: WorkerConfig) -> None:
    """The worker's main: load the model, answer requests, exit when idle or told to stop."""
    try:
        _serve(conn, config)
    except (EOFError, OSError):                 # the owner went away: nobody to answer
        pass
    finally:
        conn.close()


def _serve(conn: Connection, config: WorkerConfig) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"          # a local directory only; never the hub
    started = time.monotonic()
    try:
        model = _load(config)
    except DeviceMissingError as exc:
        conn.send(("unusable", str(exc)))
        return
    import zhconv                               # traditional → simplified, in this process

    conn.send(("ready", {"load_s": time.monotonic() - started, "peak_rss_bytes": _peak_rss()}))
    while conn.poll(config.idle_s):
        message = conn.recv()
        if message[0] == "stop":
            return
        try:
            result = _transcribe(model, zhconv, config, message[1])
        except Exception as exc:                # reported to the owner, who raises it
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        else:
            conn.send(("result", result))


def _load(config: WorkerConfig) -> Any:
    if config.verify:
        whisper_assets.verify(config.model_dir)
    else:
        missing = whisper_assets.missing_file(config.model_dir)
        if missing is not None:
            raise DeviceMissingError(f"speech recognition: {missing}: missing; "
                                     f"{whisper_assets.install_hint(config.model_dir)}")
    from faster_whisper import WhisperModel
    home = whisper_assets.home(config.model_dir)
    model_class = WhisperModel if config.encoder_min_s is None else \
        _short_context(WhisperModel, round(config.encoder_min_s * FRAMES_PER_S))
    try:
        return model_class(str(home), device="cpu", compute_type="int8",
                            cpu_threads=config.cpu_threads, num_workers=1,
                            local_files_only=True)
    except Exception as exc:                    # CTranslate2 says what it could not read
        raise DeviceMissingError(
            f"speech recognition: {home / whisper_assets.MODEL_FILE}: cannot be loaded "
            f"({type(exc).__name__}: {exc}); "
            f"{whisper_assets.install_hint(config.model_dir)}") from exc


def _short_context(base: type, min_frames: int) -> type:
    """``base`` (faster-whisper's WhisperModel) encoding only what a window holds.

    faster-whisper pads every window's features with zeros to Whisper's 30 s (3000 frames)
    before the encoder, whose cost grows with its input: a 2 s answer pays for 30 s (about
    1.7 CPU-seconds here). CTranslate2's encoder takes shorter inputs, as whisper.cpp's
    ``audio_ctx`` does; this keeps the content plus 1 s of padding, at least ``min_frames``
    (with 5 s the decoder began to repeat itself on short answers here). Full windows are
    unchanged. Relies on ``WhisperModel.encode`` receiving the padded window, as
    faster-whisper 1.2.1 does (pinned).
    """
    import numpy as np

    class ShortContextWhisper(base):
        def encode(self, features: Any) -> Any:
            used = np.flatnonzero(np.any(features != 0, axis=tuple(range(features.ndim - 1))))
            content = int(used[-1]) + 1 if len(used) else 0
            frames = -(-content // FRAMES_PER_S) * FRAMES_PER_S + FRAMES_PER_S
            keep = min(features.shape[-1], max(min_frames, frames))
            return super().encode(np.ascontiguousarray(features[..., :keep]))

    return ShortContextWhisper


def _transcribe(model: Any, zhconv: Any, config: WorkerConfig, pcm: bytes) -> dict:
    import numpy as np

    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    started, cpu_before = time.monotonic(), _cpu_s()
    segments, info = model.transcribe(
        audio, language="zh", task="transcribe", beam_size=config.beam_size,
        initial_prompt=config.initial_prompt, vad_filter=config.vad,
        temperature=list(config.temperatures), condition_on_previous_text=False,
        without_timestamps=False)
    duration = len(audio) / SAMPLE_RATE
    # the generator does the work here; Whisper predicts timestamps, which may overshoot the
    # audio by a few tens of milliseconds: they are clamped to it
    found = [(min(float(s.start), duration), min(float(s.end), duration),
              zhconv.convert(s.text.strip(), "zh-hans")) for s in segments]
    return {"segments": [s for s in found if s[2]],
            "audio_s": duration,
            "compute_s": time.monotonic() - started,
            "cpu_s": _cpu_s() - cpu_before,
            "language": info.language,
            "peak_rss_bytes": _peak_rss()}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)      # every thread of this process
    return usage.ru_utime + usage.ru_stime


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


if __name__ == "__main__":
    main()
