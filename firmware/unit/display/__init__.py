"""The customer's screen: a local web page the unit serves to its touch display (and, later,
to remote parties' phones), fed from the session flow.

- :mod:`.view`: :class:`DisplayView`, the typed snapshot of what is shown (masked names only);
- :mod:`.server`: :class:`~firmware.unit.display.server.DisplayServer` (aiohttp on its own thread),
  the page, the update stream (Server-Sent Events) and the screen's input;
- :mod:`.documents`: the library of PDFs named by SHA-256, pages rendered with pdfium;
- :mod:`.reading`: whether every page was shown long enough (NEXT's ``pages_unread``);
- :mod:`.events`: :class:`ScreenChange` (for the chain) and :class:`InputEvent` (from the page);
- :mod:`.customer_screen`: the unit's screen built from ``[display]`` (library, server, part);
- :mod:`.screen_part`: the session part that publishes views and takes the page's input,
  with :mod:`.session_view` (people, needs, idle), :mod:`.reading_node` (a reading node's
  documents, refusals and chain records) and :mod:`.screen_inbox` (across threads).

This package's ``__init__`` imports only the light types; the server (aiohttp) and the library
(pypdfium2) are imported from their modules by whoever runs them.
"""
from firmware.unit.display.captions import CaptionPhrase
from firmware.unit.display.errors import (DisplayClosedError, DisplayError, DocumentAlteredError,
                                     DocumentError, DocumentMissingError,
                                     DocumentUnreadableError, ListenAddressError, ManifestError,
                                     ViewError)
from firmware.unit.display.events import InputEvent, ScreenChange
from firmware.unit.display.view import (Caption, DisplayView, DocumentView, NodeView, Person,
                                   ReadingView, Refusal)

__all__ = ["Caption", "CaptionPhrase", "DisplayView", "DocumentView", "NodeView", "Person",
           "ReadingView", "Refusal", "InputEvent", "ScreenChange", "DisplayError",
           "DisplayClosedError", "DocumentError", "DocumentMissingError", "DocumentAlteredError",
           "DocumentUnreadableError", "ListenAddressError", "ManifestError", "ViewError"]
