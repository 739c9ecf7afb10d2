"""Script templates: the approved wording of a 双录 session, node by node (config/scripts/*.toml).

A template is versioned and its file's SHA-256 goes on the chain at session start, so an
auditor can prove the wording spoken was the approved wording. A bad template is refused with
the file, the key path and the reason.

Speech understanding reads two more things from a template (both optional):

- ``answers``: the word lists that judge the customer's answers, either a table
  (``[answers]`` with ``affirmative``, ``negative``, ``hesitant``, ``negators``, ``fillers``)
  or the path of a TOML file with such a table, relative to the template's directory
  (``answers = "../understanding/answers.toml"``); without it, the shipped
  ``config/understanding/answers.toml``;
- a node's ``required_phrases`` (heard during the node in the recording, the unit's own voice
  included: proof the statement was audible) and ``salesperson_phrases`` (heard during the
  node outside the unit's prompts: said by someone at the counter), checked after the session.

A node may name who acts at it (issue 17): ``signers = ["policyholder", "insured"]`` at a
node that requires a signature, ``readers = [...]`` at a node of kind ``documents``; roles from
:data:`ACTOR_ROLES` (docs/people.md), each once. Without them, every customer of the sale acts.
Where each is (the counter or a remote phone) comes from the sale:
:mod:`firmware.unit.session.node_duties` (docs/script-templates.md).

A node of fixed wording may name the insurer's recording of its prompt, played instead of the
unit's voice: ``recording = "<SHA-256 of the WAV file>"``. The file is installed in
``[speech] recorded_dir`` named by the SHA-256 of the prompt's exact text (``<sha256>.wav``,
:mod:`drivers.speech.recorded`); the hash pins it: a file whose bytes differ, or none, is an
error (the unit does not start; a session never falls back to synthesis), and the prompt's
EVENT carries the recording's SHA-256 as ``audio_sha256``. A prompt with fields from the ticket
(``{premium}``) cannot have a recording. :func:`template_recordings` gathers the pins.
"""
from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

from firmware.errors import ConfigError
from firmware.people.customers import GUARDIAN, INSURED, POLICYHOLDER
from firmware.unit.understanding.answers import WordLists, check_word_lists, read_word_lists

NODE_KINDS = ("consent", "statement", "question", "show_credentials", "show_id", "documents",
              "signature")
EVIDENCE = ("photo", "signature", "answer")
#: the roles a node's ``signers`` / ``readers`` may name (the sale's customer roles)
ACTOR_ROLES = (POLICYHOLDER, INSURED, GUARDIAN)
MAX_NODE_DOCUMENTS = 16
SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts"  # firmware/scripts -> config/scripts
_ID = re.compile(r"[a-z][a-z0-9_-]{0,40}")
#: the shipped answer word lists (config/understanding/answers.toml)
DEFAULT_ANSWERS = SCRIPTS_DIR.resolve().parent / "understanding" / "answers.toml"
PHRASE_KEYS = ("required_phrases", "salesperson_phrases")
MAX_NODE_PHRASES = 32
MAX_PHRASE_CHARS = 40
_HEARABLE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffA-Za-z0-9]")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class TemplateError(ConfigError):
    """A script template is unusable; the message names the file, the key and the reason."""


@dataclass(frozen=True)
class ScriptNode:
    """One step of the script. ``min_seconds``: NEXT is refused before the node has lasted this
    long; ``answer_seconds``: the window after the prompt in which the customer answers;
    ``documents``: at a node of kind "documents", the SHA-256s of the documents the customer
    reads on the screen (the unit's document library holds them), before any the ticket adds;
    ``signers`` / ``readers``: the roles that sign / read at this node (None: every customer
    role of the sale)."""

    id: str
    title: str
    kind: str
    prompt: str
    min_seconds: float
    requires: tuple[str, ...]
    answer_seconds: float
    required_phrases: tuple[str, ...] = field(default=(), kw_only=True)
    salesperson_phrases: tuple[str, ...] = field(default=(), kw_only=True)
    documents: tuple[str, ...] = ()
    recording: str | None = field(default=None, kw_only=True)
    signers: tuple[str, ...] | None = field(default=None, kw_only=True)
    readers: tuple[str, ...] | None = field(default=None, kw_only=True)

    def as_record(self) -> dict:
        record = {"id": self.id, "title": self.title, "kind": self.kind,
                  "requires": list(self.requires)}
        if self.documents:
            record["documents"] = list(self.documents)
        if self.signers is not None:
            record["signers"] = list(self.signers)
        if self.readers is not None:
            record["readers"] = list(self.readers)
        return record


@dataclass(frozen=True)
class ScriptTemplate:
    id: str
    version: str
    title: str
    channel: str
    products: tuple[str, ...]
    elder: bool
    words_per_minute: int
    nodes: tuple[ScriptNode, ...]
    sha256: str
    path: str
    answers: WordLists = field(default_factory=dict, kw_only=True, compare=False)
    answers_source: str = field(default="", kw_only=True)   # the file the lists came from
    def as_record(self) -> dict:
        return {"id": self.id, "version": self.version, "title": self.title,
                "sha256": self.sha256, "elder": self.elder}


def _get(table: dict, key: str, kind: type, where: str, problems: list[str], default=None):
    if key not in table:
        if default is None:
            problems.append(f"{where}.{key}: missing")
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        problems.append(f"{where}.{key}: must be {kind.__name__}, got {type(value).__name__}")
        return default
    return value


def _node(raw: dict, index: int, problems: list[str]) -> ScriptNode | None:
    where = f"node[{index}]"
    known = {"id", "title", "kind", "prompt", "min_seconds", "requires", "answer_seconds",
             "documents", "recording", "signers", "readers"}
    for key in sorted(set(raw) - known):
        problems.append(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
    node_id = _get(raw, "id", str, where, problems, "")
    where = f"node[{index}] ({node_id or '?'})"
    if node_id and not _ID.fullmatch(node_id):
        problems.append(f"{where}.id: must be lowercase letters, digits, '_' or '-'")
    title = _get(raw, "title", str, where, problems, "")
    kind = _get(raw, "kind", str, where, problems, "")
    if kind and kind not in NODE_KINDS:
        problems.append(f"{where}.kind: {kind!r} is not one of {', '.join(NODE_KINDS)}")
    prompt = _get(raw, "prompt", str, where, problems, "")
    if not prompt.strip():
        problems.append(f"{where}.prompt: must not be empty")
    min_s = _get(raw, "min_seconds", float, where, problems, 0.0)
    if not 0 <= min_s <= 600:
        problems.append(f"{where}.min_seconds: must be between 0 and 600")
    requires = _get(raw, "requires", list, where, problems, [])
    for item in requires:
        if item not in EVIDENCE:
            problems.append(f"{where}.requires: {item!r} is not one of {', '.join(EVIDENCE)}")
    answer_s = _get(raw, "answer_seconds", float, where, problems, 0.0)
    if "answer" in requires and answer_s <= 0:
        problems.append(f"{where}.answer_seconds: a node that requires an answer needs a "
                        "window longer than 0 s")
    if kind == "signature" and "signature" not in requires:
        problems.append(f"{where}.requires: a signature node must require 'signature'")
    documents = _documents(raw, kind, where, problems)
    recording = _recording(raw, prompt, where, problems)
    signers = _roles(raw, "signers", "signature" in requires,
                     "only a node that requires a signature names its signers", where, problems)
    readers = _roles(raw, "readers", kind == "documents",
                     "only a node of kind \"documents\" names its readers", where, problems)
    return ScriptNode(node_id, title, kind, prompt, min_s, tuple(requires), answer_s, documents,
                      recording=recording, signers=signers, readers=readers)


def _roles(raw: dict, key: str, allowed: bool, not_here: str, where: str,
           problems: list[str]) -> tuple[str, ...] | None:
    """The optional ``signers`` / ``readers``: 1 to 3 distinct roles of :data:`ACTOR_ROLES`."""
    if key not in raw:
        return None
    value = raw[key]
    if not allowed:
        problems.append(f"{where}.{key}: {not_here}")
    if not isinstance(value, list) or not 1 <= len(value) <= len(ACTOR_ROLES):
        problems.append(f"{where}.{key}: must be a list of 1 to {len(ACTOR_ROLES)} roles of "
                        f"{', '.join(ACTOR_ROLES)}")
        return None
    for i, role in enumerate(value):
        if role not in ACTOR_ROLES:
            problems.append(f"{where}.{key}[{i}]: {str(role)[:40]!r} is not a role of the sale "
                            f"(one of {', '.join(ACTOR_ROLES)})")
        elif value.index(role) != i:
            problems.append(f"{where}.{key}[{i}]: {role!r} is listed twice")
    return tuple(r for r in value if r in ACTOR_ROLES)


def _recording(raw: dict, prompt: str, where: str, problems: list[str]) -> str | None:
    """The optional ``recording = "<sha256>"`` of a node of fixed wording."""
    if "recording" not in raw:
        return None
    value = raw["recording"]
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        problems.append(f"{where}.recording: must be the SHA-256 of the recorded WAV file as 64 "
                        f"lowercase hex digits, got {str(value)[:70]!r}")
        return None
    if "{" in prompt or "}" in prompt:
        problems.append(f"{where}.recording: a recording is of fixed wording, but this prompt "
                        "has fields filled from the ticket ({...}); remove the fields or the "
                        "recording")
        return None
    return value


def _documents(raw: dict, kind: str, where: str, problems: list[str]) -> tuple[str, ...]:
    """The optional ``documents = ["<sha256>", ...]`` of a reading node."""
    if "documents" not in raw:
        return ()
    documents = _get(raw, "documents", list, where, problems, [])
    if not isinstance(raw["documents"], list):
        return ()
    if kind and kind != "documents":
        problems.append(f"{where}.documents: only a node of kind \"documents\" lists documents")
    if not 1 <= len(documents) <= MAX_NODE_DOCUMENTS:
        problems.append(f"{where}.documents: list 1 to {MAX_NODE_DOCUMENTS} documents, "
                        f"not {len(documents)}")
    for i, sha in enumerate(documents):
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            problems.append(f"{where}.documents[{i}]: must be a SHA-256 as 64 lowercase hex "
                            "digits (the document library's manifest names each by it)")
        elif documents.index(sha) != i:
            problems.append(f"{where}.documents[{i}]: {sha[:12]}… is listed twice")
    return tuple(d for d in documents if isinstance(d, str))


def _with_phrases(raw: dict, index: int, problems: list[str]) -> ScriptNode | None:
    """The node, with the phrases checked after the session (see the module docstring)."""
    if not isinstance(raw, dict):
        problems.append(f"node[{index}]: must be a table")
        return None
    node = _node({k: v for k, v in raw.items() if k not in PHRASE_KEYS}, index, problems)
    phrases = {}
    for key in PHRASE_KEYS:
        where = f"node[{index}] ({raw.get('id', '?')}).{key}"
        value = raw.get(key, [])
        if not isinstance(value, list):
            problems.append(f"{where}: must be a list of phrases")
            value = []
        if len(value) > MAX_NODE_PHRASES:
            problems.append(f"{where}: {len(value)} phrases, at most {MAX_NODE_PHRASES}")
        for phrase in value:
            if not isinstance(phrase, str) or not 0 < len(phrase) <= MAX_PHRASE_CHARS \
                    or not _HEARABLE.search(phrase):
                problems.append(f"{where}: {phrase!r} is not a phrase of 1..{MAX_PHRASE_CHARS} "
                                "characters that can be heard (Chinese, letters or digits)")
        phrases[key] = tuple(p for p in value if isinstance(p, str))
    return replace(node, **phrases) if node is not None else None


def _answers(value, source: str, problems: list[str]) -> tuple[WordLists, str]:
    """The template's answer word lists: its ``[answers]`` table, the file ``answers`` names
    (relative to the template's directory), or the shipped lists."""
    if isinstance(value, dict):
        lists, found = check_word_lists(value, "answers")
        problems.extend(found)
        return lists, "template"
    if value is not None and (not isinstance(value, str) or not value.endswith(".toml")):
        problems.append("answers: must be the [answers] table or the path of a .toml file "
                        "with one")
        return {}, ""
    base = Path(source).parent if source != "<template>" else SCRIPTS_DIR
    path = DEFAULT_ANSWERS if value is None else (base / value)
    try:
        return read_word_lists(path), str(path)
    except ConfigError as exc:
        problems.append(f"answers: {exc}")
        return {}, str(path)


def parse_template(text: str, source: str = "<template>") -> ScriptTemplate:
    """Parse and check a template's TOML text. TemplateError lists every problem at once."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{source}: not valid TOML: {exc}") from None
    problems: list[str] = []
    for key in sorted(set(data) - {"template", "node", "answers"}):
        problems.append(f"{key}: unknown section (known: template, node, answers)")
    head = data.get("template")
    if not isinstance(head, dict):
        problems.append("template: the [template] table is missing")
        head = {}
    known = {"id", "version", "title", "channel", "products", "elder", "words_per_minute"}
    for key in sorted(set(head) - known):
        problems.append(f"template.{key}: unknown key (known: {', '.join(sorted(known))})")
    tid = _get(head, "id", str, "template", problems, "")
    if tid and not _ID.fullmatch(tid):
        problems.append("template.id: must be lowercase letters, digits, '_' or '-'")
    version = _get(head, "version", str, "template", problems, "")
    title = _get(head, "title", str, "template", problems, "")
    channel = _get(head, "channel", str, "template", problems, "")
    products = _get(head, "products", list, "template", problems, [])
    elder = _get(head, "elder", bool, "template", problems, False)
    wpm = _get(head, "words_per_minute", int, "template", problems, 160)
    if not 60 <= wpm <= 400:
        problems.append("template.words_per_minute: must be between 60 and 400")
    raw_nodes = data.get("node", [])
    if not isinstance(raw_nodes, list) or not raw_nodes:
        problems.append("node: at least one [[node]] is needed")
        raw_nodes = []
    nodes = [_with_phrases(raw, i, problems) for i, raw in enumerate(raw_nodes)]
    ids = [n.id for n in nodes if n]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"node: id {dup!r} is used twice")
    if nodes and nodes[0] and nodes[0].kind != "consent":
        problems.append("node[0]: the first node must be the recording notice and consent "
                        "(kind = \"consent\")")
    answers, answers_source = _answers(data.get("answers"), source, problems)
    if problems:
        raise TemplateError(f"{source}: invalid script template:\n  " + "\n  ".join(problems))
    return ScriptTemplate(tid, version, title, channel, tuple(products), elder, wpm,
                          tuple(nodes), hashlib.sha256(text.encode("utf-8")).hexdigest(), source,
                          answers=answers, answers_source=answers_source)


def template_recordings(templates: Iterable[ScriptTemplate]) -> dict[str, str]:
    """The pinned recordings of ``templates``: prompt text → SHA-256 of its recording.
    TemplateError if two nodes pin one text to different recordings (naming both)."""
    pins: dict[str, tuple[str, str]] = {}
    for template in templates:
        for node in template.nodes:
            if node.recording is None:
                continue
            here = f"{template.path}: node {node.id!r}"
            seen = pins.setdefault(node.prompt, (node.recording, here))
            if seen[0] != node.recording:
                raise TemplateError(f"{here}.recording: {node.recording[:12]}… but {seen[1]} "
                                    f"pins the same prompt to {seen[0][:12]}…; one wording has "
                                    "one approved recording")
    return {text: pin for text, (pin, _where) in pins.items()}


def load_template(path: str | Path) -> ScriptTemplate:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read ({exc})") from None
    return parse_template(text, str(path))


def load_templates(directory: str | Path = SCRIPTS_DIR) -> dict[str, ScriptTemplate]:
    """Every ``*.toml`` template in ``directory`` by id."""
    templates = {}
    for path in sorted(Path(directory).glob("*.toml")):
        t = load_template(path)
        if t.id in templates:
            raise TemplateError(f"{path}: template id {t.id!r} is also used by "
                                f"{templates[t.id].path}")
        templates[t.id] = t
    return templates
