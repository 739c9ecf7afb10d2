"""Spoken prompts: rendered once to WAV by the speech driver, played through the speaker; each
playing goes on the chain with the text's and the audio's hashes and its start and end."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from drivers.audio import Playback, Speaker
from drivers.speech import Speech


@dataclass
class PromptPlay:
    node: str
    text: str
    wav: Path
    playback: Playback
    replay: bool


class Prompter:
    """``speech(words_per_minute)`` gives the speech driver for a template's pace."""

    def __init__(self, speech: Callable[[int], Speech], speaker: Speaker) -> None:
        self._speech = speech
        self._voices: dict[int, Speech] = {}
        self._speaker = speaker
        self._audio_hash: dict[Path, str] = {}
        self.current: PromptPlay | None = None
        self._plays: list[PromptPlay] = []    # played or playing, not yet collected
        self.words_per_minute = 160

    def prepare(self, texts: list[str], words_per_minute: int) -> None:
        """Render every prompt ahead at this pace (espeak-ng once per text; cached on disk)."""
        self.words_per_minute = words_per_minute
        for text in texts:
            self._wav(text)

    def _wav(self, text: str) -> Path:
        wpm = self.words_per_minute
        if wpm not in self._voices:
            self._voices[wpm] = self._speech(wpm)
        path = self._voices[wpm].render(text)
        if path not in self._audio_hash:
            self._audio_hash[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        return path

    def play(self, node: str, text: str, replay: bool = False) -> PromptPlay:
        """Play ``text`` (a prompt still playing is stopped; it is still collected)."""
        wav = self._wav(text)
        if self.current is not None and not self.current.playback.done:
            self.current.playback.stop()
        self.current = PromptPlay(node, text, wav, self._speaker.play(wav), replay)
        self._plays.append(self.current)
        return self.current

    @property
    def playing(self) -> bool:
        return self.current is not None and not self.current.playback.done

    def collect(self) -> list[PromptPlay]:
        """Every play that has ended since the last call, in order (each returned once)."""
        done = [p for p in self._plays if p.playback.done]
        self._plays = [p for p in self._plays if not p.playback.done]
        return done

    def record(self, play: PromptPlay) -> dict:
        """The EVENT data of a finished prompt."""
        return {"node": play.node, "replay": play.replay,
                "text_sha256": hashlib.sha256(play.text.encode("utf-8")).hexdigest(),
                "audio_sha256": self._audio_hash[play.wav],
                "start_ns": play.playback.started_ns,
                "end_ns": play.playback.ended_ns, "completed": play.playback.completed}

    def stop(self) -> None:
        if self.current is not None:
            self.current.playback.stop()
