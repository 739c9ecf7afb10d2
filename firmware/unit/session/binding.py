"""What a session is for (:class:`Binding`) and what the flow is doing (:class:`FlowSnapshot`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from firmware.unit.session.script import ScriptNode, ScriptTemplate


@dataclass
class Binding:
    """What the next session is for: its script, its mode, the people and the policy.

    ``prompts``: the exact text spoken at each node (rendered from the sale's facts when a ticket
    bound the session; the template's wording otherwise). ``ticket``: what the chain records of
    the ticket (no personal data). ``people_json``/``script_json``: sealed, encrypted at rest.
    ``counter_people``: how many people the camera should see (salesperson and customers at the
    counter), None when unknown."""

    template: ScriptTemplate
    mode: str = "av"                        # "av" or "audio_photo"
    application_no: str = ""
    people_json: bytes | None = None        # sealed as people.json (personal data: files only)
    summary: dict[str, Any] = field(default_factory=dict)  # no personal data
    prompts: dict[str, str] = field(default_factory=dict)
    ticket: dict[str, Any] | None = None
    script_json: bytes | None = None
    counter_people: int | None = None
    documents: tuple[str, ...] = ()         # SHA-256 of the documents to read, in order
    facts: dict[str, str] = field(default_factory=dict)   # the sale's facts as spoken

    def prompt(self, node: ScriptNode) -> str:
        return self.prompts.get(node.id, node.prompt)

    def all_prompts(self) -> list[str]:
        return [self.prompt(n) for n in self.template.nodes]


@dataclass(frozen=True)
class FlowSnapshot:
    """What the flow is doing, published whole on every change, so readers on other threads
    (status, the fleet agent, the watchdog, the customer's screen) see one consistent moment
    without reaching into the flow's working state."""

    state: str = "idle"
    session_id: str | None = None
    node: str | None = None
    template: str | None = None
    mode: str | None = None
    last_summary: dict | None = None
    node_index: int | None = None
    node_count: int | None = None
