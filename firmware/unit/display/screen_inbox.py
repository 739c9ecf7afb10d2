"""What reaches the session flow from the customer's screen, across threads.

The display server calls ``on_input`` on its own thread and ``on_change`` on whichever thread
changed the screen (the flow's for views, the pad's for a finished stroke); a server that dies
calls ``on_fault`` on its thread. :class:`ScreenInbox` takes all three, thread-safe and without
blocking, and the screen part takes them out on the flow's thread (:meth:`take`). Input wakes
the flow at once through ``wake`` (the session's ``post``); changes wait for the next drain
(after each publish and every tick: their records carry their own times).

Bounded: past ``MAX_ITEMS`` waiting items, further ones are counted and dropped (the next
drain records how many), so a stuck flow cannot make the screen use up memory.
"""
from __future__ import annotations

import threading
from typing import Callable, Union

from firmware.unit.display.events import InputEvent, ScreenChange

MAX_ITEMS = 1024

Item = Union[InputEvent, ScreenChange, BaseException]


class ScreenInbox:
    """See the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Item] = []
        self._dropped = 0
        self._wake: Callable[[], None] | None = None

    def wake_with(self, wake: Callable[[], None] | None) -> None:
        """Call ``wake()`` (from the caller's thread) when input arrives; None: do not."""
        with self._lock:
            self._wake = wake

    def _put(self, item: Item, wake: bool) -> None:
        with self._lock:
            if len(self._items) >= MAX_ITEMS:
                self._dropped += 1
                return
            self._items.append(item)
            fn = self._wake if wake else None
        if fn is not None:
            fn()

    def input(self, event: InputEvent) -> None:
        """The server's ``on_input``."""
        self._put(event, wake=True)

    def change(self, change: ScreenChange) -> None:
        """The server's ``on_change``."""
        self._put(change, wake=False)

    def fault(self, exc: BaseException) -> None:
        """The server's ``on_fault``: the screen is gone."""
        self._put(exc, wake=True)

    def take(self) -> tuple[list[Item], int]:
        """Everything waiting, in arrival order, and how many items were dropped since."""
        with self._lock:
            items, self._items = self._items, []
            dropped, self._dropped = self._dropped, 0
        return items, dropped
