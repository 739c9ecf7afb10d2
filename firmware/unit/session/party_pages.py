"""Page pictures for remote parties: a document's page rendered by the unit's library and sent
on the party's screen channel in chunks (:func:`~.screen_messages.image_messages`).

One renderer thread for all parties (pdfium holds the library's lock anyway), at most one page
in the works per party: a request that arrives meanwhile waits in place of any older waiting
one (a party turning fast gets its newest page, not every page it passed). What happened goes
back to the flow's thread through ``post``.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from firmware.unit.display.documents import DocumentLibrary, render_width
from firmware.unit.session.party_screen import PartyScreen
from firmware.unit.session.screen_messages import (MAX_IMAGE_WIDTH, ImageRequest,
                                                   image_messages)

log = logging.getLogger(__name__)

Post = Callable[[Callable[[], None]], None]
Done = Callable[[PartyScreen, ImageRequest, "int | BaseException"], None]


class PagePictures:
    """Renders and sends page pictures; ``request`` and ``done`` run on the flow's thread."""

    def __init__(self, library: DocumentLibrary) -> None:
        self._library = library
        self._renderer = ThreadPoolExecutor(1, thread_name_prefix="remote-pages")

    def request(self, screen: PartyScreen, request: ImageRequest, post: Post,
                done: Done) -> None:
        """Render ``request`` for ``screen`` and send it; ``done(screen, request, outcome)``
        (the PNG's size, or the exception) on the flow's thread once it went."""
        if screen.image_busy:
            screen.image_next = request
            return
        screen.image_busy = True
        width = render_width(min(MAX_IMAGE_WIDTH, request.width))
        self._renderer.submit(self._render, screen, request, width, post, done)

    def _render(self, screen: PartyScreen, request: ImageRequest, width: int, post: Post,
                done: Done) -> None:
        outcome: int | BaseException
        try:
            png = self._library.render_png(request.document, request.page, width)
            screen.media.send_screen(*image_messages(request.request, request.document,
                                                     request.page, width, png))
            outcome = len(png)
        except Exception as exc:       # the owner records it, on the flow's thread
            outcome = exc
        post(lambda: self._finished(screen, request, outcome, done))

    def _finished(self, screen: PartyScreen, request: ImageRequest,
                  outcome: int | BaseException, done: Done) -> None:
        screen.image_busy = False
        if isinstance(outcome, int):
            screen.images += 1
            screen.image_bytes += outcome
        done(screen, request, outcome)

    def next_waiting(self, screen: PartyScreen) -> ImageRequest | None:
        """The request that waited while the last one was rendered (taken)."""
        waiting, screen.image_next = screen.image_next, None
        return waiting if isinstance(waiting, ImageRequest) else None

    def close(self) -> None:
        """Stop rendering (a page in the works is finished first). Safe twice."""
        self._renderer.shutdown(wait=True, cancel_futures=True)
