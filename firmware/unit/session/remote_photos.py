"""The ID a remote party shows to their own camera: when the ID node's photo is taken at the
counter, each admitted remote party's newest picture is taken too, if it is fresh, and sealed
as the party's own photo.

"Fresh" is on the unit's clock: the picture arrived at most :data:`FRESH_NS` before the photo
is taken (docs/remote-media.md §4: a remote picture's time is its arrival). An older picture
(the party's video stalled) or none at all is not sealed; the EVENT says so.

On the chain, per party: a SEGMENT ``stream: "remote_photo"`` sealing
``NODE-photo-PARTY-1.jpg`` (a JPEG, encrypted at rest like every session file; ``node``,
``party``, ``taken_ns`` = the picture's arrival, ``width``, ``height``), and an EVENT
``remote_photo`` (``node``, ``party``, ``photo``: the file or None, ``age_ms``, and
``reason`` ``no_picture`` / ``stale`` / ``unencodable`` when there is none).
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from firmware.errors import DualrecError
from firmware.unit.session.answer_source import check_source_name
from firmware.unit.session.parts import SessionContext
from firmware.unit.session.quality import NodeOutcome
from firmware.unit.session.remote_parties import REMOTE_PARTIES

log = logging.getLogger(__name__)

FRESH_NS = 1_000_000_000        # a picture older than this on the unit's clock is not taken
JPEG_QUALITY = 92
MAX_PIXELS = 4096 * 4096        # a received picture is at most what a browser sends


class RemotePhotoError(DualrecError, ValueError):
    """A remote party's picture could not be made a JPEG (not a BGR image)."""


def encode_jpeg(bgr: np.ndarray) -> bytes:
    """``bgr`` (H x W x 3, uint8) as JPEG bytes."""
    if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8 or bgr.ndim != 3 \
            or bgr.shape[2] != 3 or not 0 < bgr.shape[0] * bgr.shape[1] <= MAX_PIXELS:
        raise RemotePhotoError(f"a remote picture must be a BGR uint8 image, got "
                               f"{getattr(bgr, 'dtype', type(bgr).__name__)} "
                               f"{getattr(bgr, 'shape', '')}")
    # Pillow, not OpenCV: the daemon's memory budget has no room for OpenCV (worker-only)
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])).save(
        out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


@dataclass(frozen=True)
class RemotePhoto:
    """A party's photo sealed at a node: its file (spool-relative), the JPEG, the party's
    seats (indexes into the sale's customers)."""

    party: str
    seats: tuple[int, ...]
    path: str
    jpeg: bytes


class RemotePhotos:
    """Takes each admitted party's photo once per node (a party with none yet, e.g. its
    picture was stale, is taken again when the node's photo falls due after a REPLAY).
    ``encode(bgr) -> jpeg`` for tests; every method on the flow's thread."""

    def __init__(self, encode: Callable[[np.ndarray], bytes] = encode_jpeg) -> None:
        self._encode = encode
        self._taken: set[tuple[str, str]] = set()     # (node, party) with a photo sealed

    def reset(self) -> None:
        """A new session."""
        self._taken = set()

    def take(self, ctx: SessionContext, run: NodeOutcome) -> list[RemotePhoto]:
        """Every admitted party's photo at the node ``run``: sealed, recorded, returned."""
        view = ctx.values.get(REMOTE_PARTIES)
        photos = []
        for seated in view.admitted() if view is not None else ():
            if (run.id, seated.party) in self._taken:
                continue
            photo = self._take_one(ctx, run, seated)
            if photo is not None:
                self._taken.add((run.id, seated.party))
                run.files.append(photo.path)
                photos.append(photo)
        return photos

    def _take_one(self, ctx: SessionContext, run: NodeOutcome, seated: Any
                  ) -> RemotePhoto | None:
        party = check_source_name(seated.party)
        latest = seated.media.latest_frame()
        now = ctx.now_ns()
        event = {"node": run.id, "party": party, "photo": None}
        if latest is None:
            ctx.event("remote_photo", {**event, "age_ms": None, "reason": "no_picture"})
            return None
        bgr, arrival_ns = latest
        age_ms = (now - arrival_ns) // 1_000_000
        if now - arrival_ns > FRESH_NS:
            ctx.event("remote_photo", {**event, "age_ms": age_ms, "reason": "stale"})
            return None
        try:
            jpeg = self._encode(bgr)
        except RemotePhotoError as exc:
            log.error("remote party %s's picture at %s: %s", party, run.id, exc)
            ctx.event("remote_photo", {**event, "age_ms": age_ms, "reason": "unencodable"})
            return None
        height, width = bgr.shape[:2]
        sealed = ctx.seal(f"{run.id}-photo-{party}-1.jpg", jpeg,   # one per party and node
                          {"stream": "remote_photo", "node": run.id, "party": party,
                           "taken_ns": arrival_ns, "width": width, "height": height})
        path = sealed.files[0].path
        ctx.event("remote_photo", {**event, "photo": path, "age_ms": age_ms})
        log.info("remote party %s's photo at %s (%dx%d, %d ms old)", party, run.id, width,
                 height, age_ms)
        return RemotePhoto(party, tuple(seated.seats), path, jpeg)
