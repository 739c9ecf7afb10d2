"""Photos at the nodes that need them (an ID, the credentials, the documents): a full-resolution
still taken once the prompt has ended and the holder had time to show the document; NEXT is
refused until there is one.

At the ID node the remote parties show their own ID to their own camera: when the node's photo
falls due, each admitted party's newest picture is taken too
(:mod:`~firmware.unit.session.remote_photos`); a party without one yet is taken again when the
photo falls due after a REPLAY. A party's photo does not hold up NEXT."""
from __future__ import annotations

from typing import Callable

from firmware.unit.recorder import Recorder
from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.quality import NodeOutcome
from firmware.unit.session.remote_photos import RemotePhotos
from firmware.unit.session.script import ScriptNode

PHOTO_DELAY_NS = 1_500_000_000   # after the prompt ends: time to hold the document up
ID_NODE = "show_id"              # the node kind where the customers show their ID


class PhotoPart(SessionPart):
    """``on_photo(ctx, node, run, path, jpeg)`` (optional) sees each photo sealed (the
    document reader reads it); a remote party's with the keywords ``party`` (its id) and
    ``seats`` (the sale's customers it holds)."""

    name = "photos"

    def __init__(self, recorder: Recorder,
                 on_photo: Callable[..., None] | None = None, *,
                 remote: RemotePhotos | None = None) -> None:
        self._recorder = recorder
        self._on_photo = on_photo
        self._remote = remote or RemotePhotos()
        self._due_ns: int | None = None

    def session_started(self, ctx: SessionContext) -> None:
        self._remote.reset()

    def node_started(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome) -> None:
        self._due_ns = None

    def prompt_ended(self, ctx, node, run, play) -> None:
        if "photo" in node.requires and (not run.photos or node.kind == ID_NODE):
            self._due_ns = run.prompt_end_ns + PHOTO_DELAY_NS

    def tick(self, ctx: SessionContext, node: ScriptNode | None, now_ns: int) -> None:
        if self._due_ns is None or node is None or now_ns < self._due_ns:
            return
        self._due_ns = None
        run = ctx.run
        if not run.photos:
            rec, jpeg = self._recorder.seal_photo(f"{run.id}-photo-{len(run.photos) + 1}",
                                                  {"node": run.id})
            run.photos.append(rec.files[0].path)
            if self._on_photo is not None:
                self._on_photo(ctx, node, run, rec.files[0].path, jpeg)
        if node.kind == ID_NODE:
            for photo in self._remote.take(ctx, run):
                if self._on_photo is not None:
                    self._on_photo(ctx, node, run, photo.path, photo.jpeg, party=photo.party,
                                   seats=photo.seats)

    def refusal(self, ctx, node, run, now_ns) -> str | None:
        if "photo" in node.requires and not run.photos:
            return "missing_photo"
        return None
