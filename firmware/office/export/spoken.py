"""The report's section on what the unit said (issue 13): the session's sealed ``script.json``
(each node's prompt as spoken, with the policy's facts it was rendered from and the template
it came from), and for each node whether the prompts played (EVENT ``prompt``, its
``text_sha256``) were exactly that text. ``script.json`` is encrypted at rest like the people
(the facts are the customer's): without the insurer's key (``--key``) the section says so.
Every piece of text from the evidence is escaped."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from html import escape
from typing import Any

from firmware.evidence.crypto.media_format import MAGIC
from firmware.office.export.media import MediaOpener
from firmware.office.export.session_data import SessionData

SCRIPT_STREAM = "script"
SCRIPT_NAME = "script.json"
MAX_SCRIPT_BYTES = 1 << 20      # a script is a few KiB; bound what an untrusted spool makes us read
MAX_NODES = 200
MAX_FACTS = 200


@dataclass
class SpokenText:
    """What the session's records and its sealed script say was spoken. ``nodes``: ``{id,
    title, prompt}`` as sealed (empty when unreadable); ``played``: node id → the
    ``text_sha256`` of each prompt played there (first play and replays)."""

    sealed: str | None = None                       # the script's path, when one is sealed
    template: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    nodes: list[dict[str, str]] = field(default_factory=list)
    played: dict[str, list[str]] = field(default_factory=dict)
    note: str | None = None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _parse(raw: bytes, spoken: SpokenText) -> None:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        spoken.note = f"{spoken.sealed}: not a script ({type(exc).__name__})"
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        spoken.note = f"{spoken.sealed}: not a script (no list of nodes)"
        return
    if isinstance(doc.get("template"), dict):
        spoken.template = doc["template"]
    if isinstance(doc.get("facts"), dict):
        spoken.facts = {str(k): _text(v) for k, v in list(doc["facts"].items())[:MAX_FACTS]}
    spoken.nodes = [{"id": _text(n.get("id", "-")), "title": _text(n.get("title", "")),
                     "prompt": _text(n.get("prompt", ""))}
                    for n in doc["nodes"][:MAX_NODES] if isinstance(n, dict)]


def read_spoken(session: SessionData, opener: MediaOpener) -> SpokenText:
    spoken = SpokenText()
    for rec in session.records:
        data = rec.data
        if rec.type == "EVENT" and data.get("kind") == "prompt":
            if isinstance(data.get("node"), str) and isinstance(data.get("text_sha256"), str):
                spoken.played.setdefault(data["node"], []).append(data["text_sha256"])
        elif rec.type == "SEGMENT" and data.get("stream") == SCRIPT_STREAM and rec.files:
            entry = rec.files[0]
            spoken.sealed = entry.path
            if entry.size > MAX_SCRIPT_BYTES:
                spoken.note = (f"{entry.path}: {entry.size} bytes, more than a script "
                               f"({MAX_SCRIPT_BYTES}); not read")
                continue
            try:
                raw = opener(session.path(entry.path))
            except Exception as exc:  # noqa: BLE001 - the report says why it shows no text
                spoken.note = (f"{entry.path}: not readable here ({type(exc).__name__}); it is "
                               "encrypted to the insurer: export with the insurer's key "
                               "(--key) to read the text spoken")
                continue
            if raw.startswith(MAGIC):    # the plain opener hands encrypted bytes back
                spoken.note = (f"{entry.path}: encrypted to the insurer: export with the "
                               "insurer's key (--key) to read the text spoken")
                continue
            _parse(raw[:MAX_SCRIPT_BYTES], spoken)
    return spoken


def _check(node: dict[str, str], played: list[str]) -> str:
    """Whether the prompts played at ``node`` were the sealed text (HTML)."""
    if not played:
        return "not played"
    sealed = hashlib.sha256(node["prompt"].encode("utf-8")).hexdigest()
    other = sum(1 for h in played if h != sealed)
    if other:
        return f'<b class="bad">{other} of {len(played)} plays spoke another text</b>'
    return f"yes ({len(played)} play{'s' if len(played) > 1 else ''})"


def render_spoken(spoken: SpokenText) -> str:
    """The HTML section ("" when the session sealed no script and played no prompt)."""
    if spoken.sealed is None and not spoken.played:
        return ""
    parts = ["<h2>Spoken text</h2>"]
    if spoken.sealed is None:
        parts.append("<p>No spoken text is sealed with this session (a session bound "
                     "without a sale's ticket speaks the template's own wording: the template "
                     "and its SHA-256 are above).</p>")
        return "\n".join(parts)
    if spoken.note is not None:
        parts.append(f'<div class="warn">{escape(spoken.note)}</div>')
    if not spoken.nodes:
        return "\n".join(parts)
    t = spoken.template
    parts.append(f"<p>As sealed in <code>{escape(spoken.sealed)}</code>: template "
                 f"{escape(_text(t.get('id', '-')))} version "
                 f"{escape(_text(t.get('version', '-')))}, SHA-256 "
                 f"<code>{escape(_text(t.get('sha256', '-')))}</code>. \"Played as sealed\" "
                 "compares each prompt's recorded text hash with this text.</p>")
    if spoken.facts:
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
                       for k, v in spoken.facts.items())
        parts.append("<h3>The policy's facts, as spoken</h3><table><tr><th>field</th>"
                     f"<th>spoken as</th></tr>{rows}</table>")
    rows = "".join(
        f"<tr><td>{i}</td><td>{escape(n['id'])}</td><td>{escape(n['title'])}</td>"
        f"<td>{escape(n['prompt'])}</td><td>{_check(n, spoken.played.get(n['id'], []))}</td>"
        "</tr>" for i, n in enumerate(spoken.nodes, start=1))
    parts.append("<table><tr><th>#</th><th>node</th><th>title</th><th>prompt</th>"
                 f"<th>played as sealed</th></tr>{rows}</table>")
    return "\n".join(parts)
