"""What takes part in a session beside the recorder and the prompts: a :class:`SessionPart`
watches the session's progress on the flow's thread, may refuse NEXT with a reason, and adds
findings at the end. Photos, the staff badge, live analysis, the customer's answers, the
documents read, the customer's screen are parts; the flow only runs the script.

Every method is called on the flow's one worker thread and must return promptly: slow work
(speech recognition, OCR) runs on a thread of its own and comes back through
:meth:`SessionContext.post`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from firmware.evidence.records import Record
from firmware.unit.session.binding import Binding
from firmware.unit.session.quality import NodeOutcome, QualityFinding
from firmware.unit.session.script import ScriptNode

if TYPE_CHECKING:
    from firmware.unit.session.prompter import PromptPlay


@dataclass
class SessionContext:
    """One session as its parts see it. ``event`` and ``seal`` write to the session's chain;
    ``post(fn)`` runs ``fn()`` on the flow's thread (from any thread); ``signal(kind)`` sounds
    the panel ("refused", "ok", "fault")."""

    session_id: str
    binding: Binding
    event: Callable[[str, dict], Record]
    seal: Callable[[str, bytes, dict], Record]
    post: Callable[[Callable[[], None]], None]
    signal: Callable[[str], None]
    now_ns: Callable[[], int]
    wall_ns: Callable[[], int]
    nodes: list[NodeOutcome] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)   # parts' shared notes (no personal data)

    @property
    def run(self) -> NodeOutcome | None:
        """The node running now."""
        return self.nodes[-1] if self.nodes else None


class SessionPart:
    """No-op defaults: a part overrides what it needs."""

    name = "part"

    def session_started(self, ctx: SessionContext) -> None:
        """The session is open and recording."""

    def node_started(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome) -> None:
        """A node began (its prompt starts playing right after)."""

    def prompt_started(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome,
                       play: "PromptPlay") -> None:
        """The node's prompt (or a replay) started playing: ``play.text``, its WAV, and
        ``play.playback.started_ns`` / ``duration_ns`` (captions follow them)."""

    def prompt_ended(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome,
                     play: "PromptPlay") -> None:
        """The node's prompt (or a replay of it) finished playing."""

    def replayed(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome) -> None:
        """REPLAY was pressed: the node's prompt plays again."""

    def tick(self, ctx: SessionContext, node: ScriptNode | None, now_ns: int) -> None:
        """About every 100 ms while the session runs."""

    def refusal(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome,
                now_ns: int) -> str | None:
        """Why NEXT must be refused now (a reason code), or None."""
        return None

    def refused(self, ctx: SessionContext, node: ScriptNode, reason: str) -> None:
        """NEXT was refused (by any part or by the flow)."""

    def node_ending(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome) -> None:
        """NEXT was accepted: the node ends now (seal what belongs to it)."""

    def session_ending(self, ctx: SessionContext) -> None:
        """The recording has stopped; the SESSION_END is next (seal what belongs to the
        session as a whole)."""

    def findings(self, ctx: SessionContext) -> list[QualityFinding]:
        """At the session's end, before its SESSION_END: what this part found."""
        return []

    def session_ended(self, ctx: SessionContext, summary: dict) -> None:
        """The SESSION_END is on the chain."""

    # Called on other threads, only if a part defines them (they must be thread-safe):
    #   audio_block(block: AudioBlock)         every block of the microphone
    #   pen_sample(sample: PenSample)          every sample of the signature pad
    #   stroke_ended(timestamp_ns: int)        the pen lifted

    def idle(self, now_ns: int) -> None:
        """About every 100 ms while no session runs."""

    def close(self) -> None:
        """The flow is closing."""
