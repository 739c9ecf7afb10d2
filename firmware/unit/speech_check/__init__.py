"""The post-session speech check (issue 14 §2): what the salesperson and the unit said,
transcribed after the session while the unit is idle and checked against the template's
required phrases and the configured misleading ones; results sealed about the closed session.

:class:`SpeechCheck` wires the two halves: :attr:`SpeechCheck.part` (a session part keeping an
encrypted copy of the session's audio) and the checker thread. Keys and what stays on disk:
docs/encryption.md, section 7.
"""
from __future__ import annotations

import re

from firmware.evidence.store import Evidence
from firmware.unit.speech_check.audio_copy import AudioCopyPart
from firmware.unit.speech_check.checker import SpeechChecker, speech_check_state
from firmware.unit.understanding.service import Understanding

__all__ = ["SpeechCheck", "forbidden_phrases"]


def forbidden_phrases(setting: str) -> list[str]:
    """``[understanding] forbidden_phrases`` (comma-separated, ASCII or full-width commas)."""
    return [p.strip() for p in re.split(r"[,，、]", setting) if p.strip()]


class SpeechCheck:
    """The audio copy part and the checker of one unit. ``understanding`` is the checker's own
    worker (not the answers' one: a check never delays an answer); this closes it."""

    def __init__(self, evidence: Evidence, understanding: Understanding, *, rate: int,
                 channels: int, forbidden: list[str], retry_s: float = 60.0) -> None:
        store, local_key = speech_check_state(evidence.spool.state_dir)
        self.store, self.local_key = store, local_key
        self.checker = SpeechChecker(evidence, understanding, store, local_key,
                                     retry_s=retry_s)
        self.part = AudioCopyPart(
            store, local_key, rate=rate, channels=channels, forbidden=forbidden,
            head_seq=lambda: evidence.head.seq if evidence.head is not None else 0,
            on_started=self.checker.session_started, on_ready=self.checker.session_ready)

    def start(self) -> None:
        """Resume what a restart left and check sessions as they end."""
        self.checker.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.checker.wait_idle(timeout)

    def close(self) -> None:
        """Stop (a check in progress resumes at the next start); safe twice."""
        self.part.close()
        self.checker.close()
