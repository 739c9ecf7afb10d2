"""The people at the demo's counter: their voices (Kokoro, rendered ahead and cached with the
unit's prompts) mixed into the simulated microphone, and what the simulated camera shows."""
from __future__ import annotations

from pathlib import Path

from drivers.audio.wav import read_wav, to_mono_at_rate
from drivers.camera.documents import ApplicationForm, IdCard
from drivers.speech import KokoroSpeech, Synthesizer
from drivers.speech.kokoro import DEFAULT_WPM

SPEAKING_GAIN = 0.8     # a customer across the counter, a little quieter than the speaker


class CounterVoices:
    """Lines said at the counter, by voice. ``render(lines_by_voice)`` renders every line ahead
    (cached by text, voice and pace: a second demo starts at once); ``say(voice, text)`` mixes
    one into what the microphone hears now and returns when, on the unit's clock, it ends."""

    def __init__(self, model_dir: Path, cache_dir: Path, microphone, *,
                 words_per_minute: int = DEFAULT_WPM) -> None:
        self._model_dir, self._cache_dir = Path(model_dir), Path(cache_dir)
        self._mic = microphone
        self._wpm = words_per_minute
        self._synthesizers: dict[str, Synthesizer] = {}
        self._speech: dict[str, KokoroSpeech] = {}

    def _voice(self, voice: str) -> KokoroSpeech:
        if voice not in self._speech:
            synthesizer = Synthesizer(self._model_dir, voice)
            self._synthesizers[voice] = synthesizer
            self._speech[voice] = KokoroSpeech(self._cache_dir, synthesizer, self._wpm)
        return self._speech[voice]

    def render(self, lines: dict[str, list[str]]) -> None:
        for voice, texts in lines.items():
            if texts:
                self._voice(voice).render_many(texts)

    def say(self, voice: str, text: str) -> int:
        """Mix ``text`` in ``voice`` into the microphone from now; the unit-clock time its
        last sample sits at (RuntimeError if the microphone is not capturing)."""
        clip = read_wav(self._voice(voice).render(text))
        samples = to_mono_at_rate(clip, self._mic.rate) * SPEAKING_GAIN
        placed = self._mic.mix(samples)
        if placed is None:
            raise RuntimeError("the simulated microphone is not capturing: nothing to say into")
        _handle, start_ns = placed
        return start_ns + len(samples) * 1_000_000_000 // self._mic.rate

    def close(self) -> None:
        for synthesizer in self._synthesizers.values():
            synthesizer.close()
        self._synthesizers.clear()


class CounterCamera:
    """What the camera sees at the counter: the salesperson and the customer, the documents
    they hold up, the counter with the customer gone."""

    def __init__(self, camera, *, card: IdCard, form: ApplicationForm) -> None:
        self._camera = camera
        self.card, self.form = card, form

    def people(self) -> None:
        self._camera.set_scene("two_people")

    def customer_gone(self) -> None:
        self._camera.set_scene("customer_left")

    def id_card(self) -> None:
        self._camera.set_scene("id_card", card=self.card)

    def application_form(self) -> None:
        self._camera.set_scene("application_form", form=self.form)

    def show_image(self, image) -> None:
        self._camera.show_image(image)
