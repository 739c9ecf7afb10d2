"""Reading and writing the 16-bit PCM WAV files the speaker plays and the tests compare."""
from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drivers.errors import BadDriverArgument

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class WavClip:
    """A whole WAV in memory: ``pcm`` is signed 16-bit little-endian, interleaved."""

    path: Path
    pcm: bytes
    rate: int
    channels: int

    @property
    def frames(self) -> int:
        return len(self.pcm) // (2 * self.channels)

    @property
    def duration_ns(self) -> int:
        """Playing time in ns at the clip's own rate."""
        return self.frames * NS_PER_S // self.rate

    def samples(self) -> np.ndarray:
        """The samples as int16, shape (frames, channels)."""
        return np.frombuffer(self.pcm, dtype="<i2").reshape(-1, self.channels)


def read_wav(path: Path | str) -> WavClip:
    """Read a 16-bit PCM WAV; anything else is a :class:`BadDriverArgument` naming the file."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as wav:
            width, rate, channels = wav.getsampwidth(), wav.getframerate(), wav.getnchannels()
            pcm = wav.readframes(wav.getnframes())
    except FileNotFoundError:
        raise BadDriverArgument(f"wav_path={str(path)!r}: no such file") from None
    except (wave.Error, EOFError) as exc:
        raise BadDriverArgument(f"wav_path={str(path)!r}: not a PCM WAV file ({exc})") from None
    if width != 2:
        raise BadDriverArgument(f"wav_path={str(path)!r}: {8 * width}-bit samples; "
                                "only 16-bit PCM is played")
    whole = len(pcm) - len(pcm) % (2 * channels)
    return WavClip(path, pcm[:whole], rate, channels)


def write_wav(path: Path | str, samples: np.ndarray, rate: int) -> Path:
    """Write int16 ``samples`` (shape (frames,) or (frames, channels)) as a PCM WAV."""
    path = Path(path)
    data = np.asarray(samples, dtype="<i2")
    channels = 1 if data.ndim == 1 else data.shape[1]
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data.tobytes())
    return path


def to_mono_at_rate(clip: WavClip, rate: int) -> np.ndarray:
    """The clip as float mono samples (-1..1) resampled (linearly) to ``rate`` Hz."""
    mono = clip.samples().astype(np.float64).mean(axis=1) / 32768.0
    if clip.rate == rate or mono.size == 0:
        return mono
    out_frames = mono.size * rate // clip.rate
    positions = np.arange(out_frames) * (clip.rate / rate)
    return np.interp(positions, np.arange(mono.size), mono)
