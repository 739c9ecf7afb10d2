"""Spoken prompts: rendered once to WAV by the unit's voice, played through the speaker; each
playing goes on the chain with the text's and the audio's hashes and its start and end.

Rendering is slow (the voice is about real time on one core here, several times slower on a
Pi 4), so :meth:`Prompter.prepare` renders a session's prompts ahead on a thread of its own as
soon as they are known (at bind): a node never waits for synthesis unless its text could not
have been known earlier. A voice that cannot load is an error at :meth:`Prompter.play` (the
session faults and says so), never a silent fallback.
"""
from __future__ import annotations

import hashlib
import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from drivers.audio import Playback, Speaker

log = logging.getLogger(__name__)


class Voice(Protocol):
    def render(self, text: str) -> Path: ...

    def render_many(self, texts: list[str]) -> list[Path]: ...


@dataclass
class PromptPlay:
    node: str
    text: str
    wav: Path
    playback: Playback
    replay: bool


class Prompter:
    """``speech(words_per_minute)`` gives the unit's voice at a template's pace."""

    def __init__(self, speech: Callable[[int], Voice], speaker: Speaker) -> None:
        self._speech = speech
        self._voices: dict[int, Voice] = {}
        self._voices_lock = threading.Lock()
        self._speaker = speaker
        self._audio_hash: dict[Path, str] = {}
        self.current: PromptPlay | None = None
        self._plays: list[PromptPlay] = []    # played or playing, not yet collected
        self.words_per_minute = 160
        self.prepare_error: BaseException | None = None
        self._batches: queue.Queue = queue.Queue()
        self._renderer: threading.Thread | None = None
        self._pending = 0
        self._pending_cond = threading.Condition()
        self._due = False       # a node's prompt is about to play (see :meth:`due`)

    def _voice(self, words_per_minute: int) -> Voice:
        with self._voices_lock:
            if words_per_minute not in self._voices:
                self._voices[words_per_minute] = self._speech(words_per_minute)
            return self._voices[words_per_minute]

    def prepare(self, texts: list[str], words_per_minute: int) -> None:
        """Render every text ahead at this pace, on the renderer thread (returns at once)."""
        self.words_per_minute = words_per_minute
        with self._pending_cond:
            self._pending += 1
        self._batches.put((list(texts), words_per_minute))
        if self._renderer is None or not self._renderer.is_alive():
            self._renderer = threading.Thread(target=self._render_ahead, name="prompt-render",
                                              daemon=True)
            self._renderer.start()

    def _render_ahead(self) -> None:
        while True:
            try:
                texts, wpm = self._batches.get(timeout=5)
            except queue.Empty:
                return
            try:
                self._voice(wpm).render_many(texts)
                self.prepare_error = None
            except Exception as exc:  # noqa: BLE001 - kept for the self-test; play raises it
                self.prepare_error = exc
                log.error("rendering prompts ahead failed: %s", exc)
            finally:
                with self._pending_cond:
                    self._pending -= 1
                    self._pending_cond.notify_all()

    def wait_prepared(self, timeout: float | None = None) -> bool:
        """Until every batch given to :meth:`prepare` is rendered (tests, the demo)."""
        with self._pending_cond:
            return self._pending_cond.wait_for(lambda: self._pending == 0, timeout)

    def _wav(self, text: str) -> Path:
        path = self._voice(self.words_per_minute).render(text)
        if path not in self._audio_hash:
            self._audio_hash[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        return path

    def due(self) -> None:
        """A node starts and its prompt will play: :attr:`playing` holds from now, so nobody
        sees "nothing playing" in the moment between the node's start and its prompt's."""
        self._due = True

    def play(self, node: str, text: str, replay: bool = False) -> PromptPlay:
        """Play ``text`` (a prompt still playing is stopped; it is still collected)."""
        try:
            wav = self._wav(text)
            if self.current is not None and not self.current.playback.done:
                self.current.playback.stop()
            self.current = PromptPlay(node, text, wav, self._speaker.play(wav), replay)
        finally:
            self._due = False
        self._plays.append(self.current)
        return self.current

    @property
    def playing(self) -> bool:
        return self._due or (self.current is not None and not self.current.playback.done)

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
