"""A remote customer for the understanding tests (not collected): the phone of
:mod:`tests.meet.remote_phone` (the join page and the aiortc call) whose microphone is silent
until told to say a line, once, and whose camera shows what it is told (a face, an ID card);
and the customers' lines in the unit's own Kokoro voice.

Thread-safety: :meth:`Mouth.say` and :meth:`Scene.show` are called from the test's thread;
the tracks read them on the phone's event loop.
"""
from __future__ import annotations

import asyncio
import fractions
import threading
from pathlib import Path

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack
from skimage import data

from drivers.audio.wav import read_wav, to_mono_at_rate
from drivers.camera.documents import IdCard
from drivers.camera.scenes import fit_image, id_card_scene
from drivers.speech import KokoroSpeech, Synthesizer
from tests.meet.remote_phone import Phone

RATE = 48_000                   # what the phone's browser sends (Opus at 48 kHz)
FRAME = 960                     # 20 ms
SIZE = (640, 480)               # the phone camera's picture
FPS = 15
VOICE = "zf_xiaoyi"             # the customers' voice (the demo's)
PAUSE_S = 0.3                   # a breath before speaking: Whisper hears the start better
WPM = 300


def card_picture(card: IdCard) -> np.ndarray:
    """``card`` held up to the phone's camera (BGR, :data:`SIZE`)."""
    return id_card_scene(*SIZE, card=card)


def face_picture() -> np.ndarray:
    """A real face (scikit-image's astronaut) in the phone's picture."""
    return fit_image(np.ascontiguousarray(data.astronaut()[:, :, ::-1]), *SIZE)


class Mouth:
    """What the phone's microphone hears: silence, and each line given to :meth:`say`, once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = np.zeros(0, np.int16)

    def say(self, samples: np.ndarray) -> None:
        """Speak ``samples`` (int16 at :data:`RATE`) after what is still being said."""
        with self._lock:
            self._pending = np.concatenate([self._pending, samples.astype(np.int16)])

    def take(self, frames: int) -> np.ndarray:
        with self._lock:
            chunk, self._pending = self._pending[:frames], self._pending[frames:]
        return np.concatenate([chunk, np.zeros(frames - len(chunk), np.int16)])


class Scene:
    """What the phone's camera sees."""

    def __init__(self, picture: np.ndarray) -> None:
        self._lock = threading.Lock()
        self._picture = picture

    def show(self, picture: np.ndarray) -> None:
        with self._lock:
            self._picture = picture

    @property
    def picture(self) -> np.ndarray:
        with self._lock:
            return self._picture


class _Paced(MediaStreamTrack):
    """A source paced on the loop's clock: frame ``n`` at ``start + n * period``."""

    def __init__(self, period: float) -> None:
        super().__init__()
        self._period = period
        self._start: float | None = None
        self.count = 0

    async def _next(self) -> int:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self.count += 1
            await asyncio.sleep(max(0.0, self._start + self.count * self._period - loop.time()))
        return self.count


class SpeakingTrack(_Paced):
    kind = "audio"

    def __init__(self, mouth: Mouth) -> None:
        super().__init__(FRAME / RATE)
        self._mouth = mouth

    async def recv(self) -> av.AudioFrame:
        n = await self._next()
        frame = av.AudioFrame.from_ndarray(self._mouth.take(FRAME).reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = n * FRAME
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


class ShowingTrack(_Paced):
    kind = "video"

    def __init__(self, scene: Scene) -> None:
        super().__init__(1 / FPS)
        self._scene = scene

    async def recv(self) -> av.VideoFrame:
        n = await self._next()
        frame = av.VideoFrame.from_ndarray(self._scene.picture, format="bgr24")
        frame.pts = n * (90_000 // FPS)
        frame.time_base = fractions.Fraction(1, 90_000)
        return frame


class RemoteCustomer(Phone):
    """A remote party's phone (join, call, resume as :class:`Phone`) that says what
    :attr:`mouth` is given and shows what :attr:`scene` is given."""

    def __init__(self, relay_url: str, meeting: str) -> None:
        super().__init__(relay_url, meeting, wav=Path("/dev/null"))
        self.mouth = Mouth()
        self.scene = Scene(face_picture())

    async def _offer(self) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pc = pc
        self._tracks = [ShowingTrack(self.scene), SpeakingTrack(self.mouth)]
        for track in self._tracks:
            pc.addTrack(track)
        pc.on("track", lambda track: self._loop.spawn(self._eat(track), "eat"))
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp


class CustomerVoice:
    """The customers' lines in the unit's own Kokoro voice (:data:`VOICE`), rendered once into
    ``cache_dir`` (cached by text, voice, pace and model, like the unit's prompts)."""

    def __init__(self, model_dir: Path, cache_dir: Path) -> None:
        self._synthesizer = Synthesizer(model_dir, VOICE)
        self._speech = KokoroSpeech(cache_dir, self._synthesizer, WPM)

    def render(self, lines: list[str]) -> None:
        self._speech.render_many(lines)

    def samples(self, text: str, rate: int) -> np.ndarray:
        """``text`` after a short pause, as float mono (-1..1) at ``rate``."""
        spoken = to_mono_at_rate(read_wav(self._speech.render(text)), rate)
        return np.concatenate([np.zeros(int(PAUSE_S * rate)), spoken])

    def pcm(self, text: str) -> np.ndarray:
        """``text`` as the phone sends it: int16 at :data:`RATE`."""
        return np.round(self.samples(text, RATE) * 32767 * 0.8).astype(np.int16)

    def close(self) -> None:
        self._synthesizer.close()
