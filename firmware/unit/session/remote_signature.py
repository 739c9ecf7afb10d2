"""A remote party's finger signature, sealed as the party's own file on the session's chain.

The file ``<node>-signature-<party>.json`` (named as the party's answers and photos are:
the node, what it is, whose) holds the canonical JSON of
:func:`finger_signature_document` (format ``dualrec.finger-signature/1``: the strokes as the
party's page drew them, ``t_ms`` from the first point on the page's clock, ``x``/``y`` in CSS
pixels of the canvas, and when the unit received it on its own clock). It is sealed like every
file of the session (encrypted at rest when the unit has the insurer's key, as the pad's
signature is), in a SEGMENT with ``stream: "remote_signature"``, and an EVENT
``remote_signature`` names the party, the node, the file and the SHA-256 of its plain bytes.
"""
from __future__ import annotations

import hashlib
from typing import Any

from firmware.evidence import canonical
from firmware.unit.session.answer_source import check_source_name
from firmware.unit.session.parts import SessionContext
from firmware.unit.session.screen_messages import FingerSignature

FORMAT = "dualrec.finger-signature/1"


def finger_signature_document(signature: FingerSignature, *, party: str, connection: int,
                              received_ns: int) -> dict[str, Any]:
    """What is sealed of a finger signature (only integers and text: canonical JSON)."""
    return {"format": FORMAT, "party": party, "node": signature.node,
            "connection": connection, "received_ns": received_ns,
            "canvas": {"width": signature.width, "height": signature.height,
                       "unit": "css_px"},
            "duration_ms": signature.duration_ms,
            "strokes": [{"t_ms": list(s.t), "x": list(s.x), "y": list(s.y)}
                        for s in signature.strokes]}


def seal_finger_signature(ctx: SessionContext, party: str, signature: FingerSignature, *,
                          connection: int, received_ns: int) -> str:
    """Seal ``signature`` of ``party`` in the session and record it; its file's SHA-256."""
    content = canonical.encode(finger_signature_document(
        signature, party=party, connection=connection, received_ns=received_ns))
    sha = hashlib.sha256(content).hexdigest()
    name = f"{signature.node}-signature-{check_source_name(party)}.json"
    figures = {"strokes": len(signature.strokes), "points": signature.points,
               "duration_ms": signature.duration_ms}
    ctx.seal(name, content, {"stream": "remote_signature", "party": party,
                             "node": signature.node, **figures})
    ctx.event("remote_signature", {"party": party, "node": signature.node, "file": name,
                                   "sha256": sha, **figures, "at_ns": received_ns})
    return sha
