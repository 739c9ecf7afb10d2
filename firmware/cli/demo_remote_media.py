"""What the remote party of ``dualrec demo --remote`` shows, says and signs: a real face
photograph (scikit-image's astronaut), the front of the party's own ID card (rendered like the
counter's, with the ticket's name and number), the answers the script asks for spoken by a
Kokoro voice of the party's own, and a finger signature.

For the Chromium party these become Chromium's fake devices: a Y4M file for the camera and a
WAV for the microphone (Chromium loops both); the aiortc party sends them as its tracks.
"""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Iterable

import numpy as np

from drivers.audio.wav import read_wav, to_mono_at_rate, write_wav
from firmware.people.id_documents import citizen_number_birth_date

RATE = 48_000                   # what the party's microphone sends (Opus's own rate)
VIDEO_SIZE = (640, 480)         # what a phone's camera sends here (the unit records at most this)
PAUSE_S = 3.0                   # silence between the answers in the looped microphone file
SIGNATURE_CANVAS = (320, 160)   # CSS pixels of the signing area on a phone


def face_picture() -> np.ndarray:
    """A real face (BGR, 512 x 512) on a phone's 640 x 480 picture."""
    from skimage import data
    return letterbox(np.ascontiguousarray(data.astronaut()[:, :, ::-1]))


def letterbox(bgr: np.ndarray, size: tuple[int, int] = VIDEO_SIZE) -> np.ndarray:
    """``bgr`` scaled to fit ``size`` (width, height), centred on grey."""
    import cv2
    w, h = size
    scale = min(w / bgr.shape[1], h / bgr.shape[0])
    fitted = cv2.resize(bgr, (max(1, round(bgr.shape[1] * scale)),
                              max(1, round(bgr.shape[0] * scale))),
                        interpolation=cv2.INTER_AREA)
    out = np.full((h, w, 3), 96, np.uint8)
    y, x = (h - fitted.shape[0]) // 2, (w - fitted.shape[1]) // 2
    out[y:y + fitted.shape[0], x:x + fitted.shape[1]] = fitted
    return out


def id_card_picture(name: str, number: str) -> np.ndarray:
    """The front of the resident ID card of ``name`` with ``number``, held up to the phone's
    camera."""
    from drivers.camera.documents import IdCard, render_id_card
    birth = citizen_number_birth_date(number) or dt.date(1980, 1, 1)
    sex = "女" if len(number) == 18 and number[16].isdigit() and int(number[16]) % 2 == 0 \
        else "男"
    card = IdCard(name=name, sex=sex, ethnicity="汉", birth=birth,
                  address="北京市朝阳区演示路 18 号 2 单元 501 室", number=number)
    return letterbox(render_id_card(card))


def write_y4m(path: Path, bgr: np.ndarray, frames: int = 5, fps: int = 30) -> Path:
    """``bgr`` as ``frames`` frames of an uncompressed Y4M (4:2:0) file: what Chromium's
    ``--use-file-for-fake-video-capture`` plays, looped."""
    import cv2
    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            f.write(b"FRAME\n" + i420)
    return Path(path)


class PartyVoice:
    """The party's answers spoken by Kokoro's ``voice`` (rendered ahead into ``cache_dir``,
    which the counter's voices share: a second demo renders nothing) as 48 kHz int16 mono."""

    def __init__(self, model_dir: Path, cache_dir: Path, voice: str) -> None:
        from drivers.speech import KokoroSpeech, Synthesizer
        self._synthesizer = Synthesizer(model_dir, voice)
        self._speech = KokoroSpeech(cache_dir, self._synthesizer)
        self.clips: dict[str, np.ndarray] = {}

    def render(self, lines: Iterable[str]) -> dict[str, np.ndarray]:
        for line in lines:
            if line not in self.clips:
                mono = to_mono_at_rate(read_wav(self._speech.render(line)), RATE)
                self.clips[line] = np.clip(mono * 32767, -32768, 32767).astype("<i2")
        return self.clips

    def close(self) -> None:
        self._synthesizer.close()


def looped_answers_wav(path: Path, clips: Iterable[np.ndarray], pause_s: float = PAUSE_S) -> Path:
    """The answers one after another with ``pause_s`` of silence after each: Chromium's fake
    microphone plays the file again and again, so the party is heard answering whenever the
    unit asks."""
    gap = np.zeros(int(pause_s * RATE), "<i2")
    parts = [p for clip in clips for p in (clip, gap)] or [gap]
    return write_wav(path, np.concatenate(parts), RATE)


def finger_signature(width: int = SIGNATURE_CANVAS[0],
                     height: int = SIGNATURE_CANVAS[1]) -> list[dict[str, list[int]]]:
    """Three strokes of a quick signature on a ``width`` x ``height`` canvas, as a phone's
    page sends them: per stroke ``t`` (ms from the first point, never back), ``x``, ``y``."""
    strokes, t = [], 0
    for n, (x0, x1) in enumerate(((0.08, 0.36), (0.40, 0.66), (0.70, 0.94))):
        xs, ys, ts = [], [], []
        for i in range(40):
            f = i / 39
            xs.append(round((x0 + (x1 - x0) * f) * (width - 1)))
            ys.append(round((0.5 + 0.3 * math.sin(2 * math.pi * (f * (1.5 + n / 2))))
                            * (height - 1)))
            ts.append(t)
            t += 12
        strokes.append({"t": ts, "x": xs, "y": ys})
        t += 180                    # the finger lifts between strokes
    return strokes
