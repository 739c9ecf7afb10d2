"""Microphone capture and speaker playback, chosen by configuration.

``open_microphone("pyaudio" | "sim", clock=..., ...)`` and ``open_speaker(...)`` build a
backend; the PyAudio backend is imported only when asked for, so the simulated one needs no
PortAudio. See :mod:`drivers.audio.base` for the interface, :mod:`drivers.audio.sim` and
:mod:`drivers.audio.sim_speaker` for the test controls, :mod:`drivers.audio.alsa_files` for
running the real backend on file-backed ALSA PCMs.
"""
from __future__ import annotations

from typing import Any

from drivers.audio.base import (AudioBlock, AudioSink, AudioStateError, Microphone, Playback,
                                Speaker)
from drivers.clock import Clock
from drivers.errors import BadDriverArgument

BACKENDS = ("sim", "pyaudio")

__all__ = ["AudioBlock", "AudioSink", "AudioStateError", "Microphone", "Playback", "Speaker",
           "BACKENDS", "open_microphone", "open_speaker"]


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise BadDriverArgument(f"audio backend {backend!r}: unknown; use one of "
                                f"{', '.join(repr(b) for b in BACKENDS)}")


def open_microphone(backend: str, *, clock: Clock, rate: int = 48_000, channels: int = 1,
                    block_frames: int = 960, device: str | None = None,
                    **options: Any) -> Microphone:
    """A microphone delivering ``block_frames``-frame blocks of 16-bit audio.

    ``device``: the PyAudio device name (exact, or a unique part such as ``"hw:1,0"``; None is
    PortAudio's default input), or a label for the simulated one. ``options`` go to the
    backend: ``queue_s``, ``reopen_interval_s``, ``stall_timeout_s`` for "pyaudio" (see
    :class:`~drivers.audio.pyaudio_mic.PyAudioMicrophone`); none for "sim".
    """
    _check_backend(backend)
    if backend == "sim":
        from drivers.audio.sim import SimMicrophone
        cls: Any = SimMicrophone
    else:
        from drivers.audio.pyaudio_mic import PyAudioMicrophone
        cls = PyAudioMicrophone
    _check_options(cls, "open_microphone", backend, options,
                   {"clock", "rate", "channels", "block_frames", "device"})
    return cls(clock=clock, rate=rate, channels=channels, block_frames=block_frames,
               device=device, **options)


def open_speaker(backend: str, *, clock: Clock, device: str | None = None,
                 **options: Any) -> Speaker:
    """A speaker playing 16-bit PCM WAV files one at a time.

    ``options`` go to the backend: ``chunk_frames`` for "pyaudio"; ``loopback`` (a
    SimMicrophone that hears what is played), ``loopback_gain``, ``slice_ms`` for "sim".
    """
    _check_backend(backend)
    if backend == "sim":
        from drivers.audio.sim_speaker import SimSpeaker
        cls: Any = SimSpeaker
    else:
        from drivers.audio.pyaudio_speaker import PyAudioSpeaker
        cls = PyAudioSpeaker
    _check_options(cls, "open_speaker", backend, options, {"clock", "device"})
    return cls(clock=clock, device=device, **options)


def _check_options(cls: type, caller: str, backend: str, options: dict[str, Any],
                   common: set[str]) -> None:
    import inspect
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"} - common
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise BadDriverArgument(f"{caller}({backend!r}): unknown option(s) "
                                f"{', '.join(unknown)}; this backend takes "
                                f"{', '.join(sorted(accepted)) or 'none'}")
