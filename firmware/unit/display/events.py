"""What crosses the display server's boundary besides views: changes out, input in.

:class:`ScreenChange` goes to the flow (``on_change``) each time what is displayed changes, so
the flow can put it on the chain: which part changed, when (unit's monotonic clock), the
SHA-256 of that part's canonical JSON, and how many screens were connected to show it.

:class:`InputEvent` comes from the browser (``on_input``), checked and bounded by the server:

- ``page``: the customer turned to ``page`` of ``document`` (touch, click or swipe);
- ``shown``: the browser has ``page`` of ``document`` on screen (its image loaded);
- ``read``: the customer pressed "我已阅读" for ``document``;
- ``viewers``: the number of connected screens changed to ``viewers``.
"""
from __future__ import annotations

from dataclasses import dataclass

INPUT_KINDS = ("page", "shown", "read", "viewers")


@dataclass(frozen=True)
class ScreenChange:
    """One change of what the screen displays. ``kind`` is a part of the view (``state``,
    ``node``, ``caption``, ``needs``, ``refusal``, ``people``, ``page``, ``reading``) or
    ``signature``; ``sha256`` hashes that part's canonical JSON (``"null"`` when it is gone)."""

    kind: str
    at_ns: int
    sha256: str
    viewers: int

    def as_record(self) -> dict:
        return {"kind": self.kind, "at_ns": self.at_ns, "sha256": self.sha256,
                "viewers": self.viewers}


@dataclass(frozen=True)
class InputEvent:
    """One input from the screen, stamped on arrival with the unit's monotonic clock."""

    kind: str
    at_ns: int
    document: str | None = None
    page: int | None = None
    viewers: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"input kind {self.kind!r} is not one of {', '.join(INPUT_KINDS)}")
