"""Audio as the recogniser takes it: 16 kHz mono signed 16-bit PCM.

:func:`pcm16k` converts mono samples of another rate or type (the microphone's 48 kHz, the
voice's 24 kHz float) with PyAV's resampler (libswresample); :func:`read_wav16k` reads a WAV
file that already is in that form, bounded in length.
"""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from drivers.errors import BadDriverArgument

SAMPLE_RATE = 16_000


def pcm16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono samples (int16, or float in -1..1) at ``rate`` Hz → 16 kHz int16 (PyAV resampler)."""
    import av

    if samples.ndim != 1:
        raise BadDriverArgument(f"samples: expected mono (1-D), got shape {samples.shape}")
    if not isinstance(rate, int) or not 8_000 <= rate <= 192_000:
        raise BadDriverArgument(f"rate={rate!r}: must be an integer 8000..192000 Hz")
    if samples.dtype == np.int16:
        pcm = samples
    else:
        pcm = (np.clip(samples.astype(np.float64), -1.0, 1.0) * 32767).astype(np.int16)
    if rate == SAMPLE_RATE or len(pcm) == 0:
        return pcm.copy()
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


def read_wav16k(path: Path, limit_frames: int) -> bytes:
    """The PCM bytes of a 16 kHz mono 16-bit WAV file of at most ``limit_frames`` frames
    (BadDriverArgument naming the file otherwise)."""
    try:
        with wave.open(str(path), "rb") as wav:
            shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
            frames = wav.getnframes()
            if shape != (1, 2, SAMPLE_RATE):
                raise BadDriverArgument(
                    f"{path}: {shape[0]} channel(s), {8 * shape[1]}-bit, {shape[2]} Hz; the "
                    "recogniser takes 16 kHz mono 16-bit PCM (convert with pcm16k)")
            if frames > limit_frames:
                raise BadDriverArgument(f"{path}: {frames / SAMPLE_RATE:.1f} s is longer than "
                                        f"{limit_frames / SAMPLE_RATE:g} s (max_seconds); split it")
            return wav.readframes(frames)
    except FileNotFoundError:
        raise BadDriverArgument(f"{path}: no such WAV file") from None
    except (wave.Error, EOFError) as exc:
        raise BadDriverArgument(f"{path}: not a PCM WAV file ({exc})") from None
