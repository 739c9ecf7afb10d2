"""The screen's session part on the flow's side, without a browser: a real DisplayServer (not
started: published views are kept), a SimClock that only moves when told, a session context
that writes its EVENTs into a list, and other parts whose refusals the test sets.

Also: the ``documents`` key of script templates, the people shown from people.json, the idle
screen from the flow's snapshot, and a library without a usable manifest."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from drivers.clock import SimClock
from firmware.evidence import canonical
from firmware.unit.display.documents import DocumentLibrary
from firmware.unit.display.events import InputEvent
from firmware.unit.display.refusals import REFUSAL_WORDS
from firmware.unit.display.screen_inbox import ScreenInbox
from firmware.unit.display.screen_part import ScreenPart
from firmware.unit.display.server import DisplayServer
from firmware.unit.display.session_view import ENDED_STATUS, idle_view, people_of
from firmware.unit.session.binding import Binding, FlowSnapshot
from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.quality import NodeOutcome
from firmware.unit.session.script import TemplateError, load_template, parse_template

from .screen_appliance import SCRIPTS, people_json
from .screen_flow import quick_library

NOTICE_SHA = "bf8574ab804b9e90c4a6b51dabf421d2f6111b586bf102dd4dc2c720727858f3"


class SetRefusal(SessionPart):
    """Another part of the session (answers, photos): refuses NEXT with ``reason``."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def refusal(self, ctx, node, run, now_ns):
        return self.reason


class Pen:
    signing = False
    has_signature = False


class Session:
    """A ScreenPart in a session of the quick-reading template, driven by hand."""

    def __init__(self, tmp_path: Path, prompts: dict[str, str] | None = None,
                 documents: tuple[str, ...] = ()) -> None:
        self.clock = SimClock(realtime=False)
        self.library = quick_library(tmp_path / "docs", min_page_seconds=1)
        self.inbox = ScreenInbox()
        self.server = DisplayServer("127.0.0.1:0", self.library, self.inbox.input,
                                    clock=self.clock, on_change=self.inbox.change)
        self.peer = SetRefusal()
        self.pen = Pen()
        self.part = ScreenPart(self.server, self.library, self.inbox, self.clock, pen=self.pen,
                               peers=[self.peer])
        self.template = load_template(SCRIPTS / "quick-reading.toml")
        self.events: list[tuple[str, dict]] = []
        self.posted: list = []
        binding = Binding(self.template, people_json=people_json(), prompts=prompts or {},
                          documents=documents)
        self.ctx = SessionContext("s1", binding, event=self._event, seal=None,
                                  post=self.posted.append, signal=lambda kind: None,
                                  now_ns=self.clock.monotonic_ns,
                                  wall_ns=self.clock.realtime_ns)
        self.part.session_started(self.ctx)

    def _event(self, kind: str, data: dict) -> None:
        self.events.append((kind, data))

    def kinds(self, kind: str) -> list[dict]:
        return [d for k, d in self.events if k == kind]

    def node(self, index: int) -> NodeOutcome:
        node = self.template.nodes[index]
        self.run = NodeOutcome(node.id, node.title, node.kind, self.clock.monotonic_ns())
        self.ctx.nodes.append(self.run)
        self.part.node_started(self.ctx, node, self.run)
        return node

    def tick(self, node) -> None:
        self.part.tick(self.ctx, node, self.clock.monotonic_ns())

    def drain_posted(self) -> None:
        """What the server's thread woke the flow for, run as the flow would."""
        while self.posted:
            self.posted.pop(0)()

    @property
    def view(self):
        return self.server.view


@pytest.mark.parametrize("code", ["missing_answer", "answer_negative", "answer_unclear"])
def test_what_a_node_needs_follows_every_part_and_a_refusal_stays_until_its_cause_is_gone(
        tmp_path, code):
    s = Session(tmp_path)
    node = s.node(0)
    assert s.view.node.title == "告知与同意" and s.view.needs == ()
    assert s.view.min_until_ns == s.run.start_ns + 1_000_000_000       # min_seconds = 1
    s.peer.reason = code                          # the answer part refuses: the need shows
    s.tick(node)
    assert s.view.needs == ("answer",)
    s.part.refused(s.ctx, node, code)
    assert s.view.refusal.code == code and s.view.refusal.words == REFUSAL_WORDS[code]
    s.tick(node)
    assert s.view.refusal is not None             # still standing
    s.peer.reason = None                          # answered: need and refusal go
    s.tick(node)
    assert s.view.needs == () and s.view.refusal is None
    parts = [e["part"] for e in s.kinds("screen")]
    assert parts.count("refusal") == 3             # none at the start, shown, cleared
    assert "needs" in parts and "people" in parts


def test_names_in_prompts_are_masked_and_captions_follow_the_voice(tmp_path):
    s = Session(tmp_path, prompts={"consent": "王小明先生，请回答同意。"})
    s.node(0)
    assert s.view.caption.text == "王*先生，请回答同意。"
    assert [p.masked_name for p in s.view.people if p.role != "salesperson"] == ["王*", "李*"]

    class Play:                   # a PromptPlay as the prompter hands it: text and playback
        text = "王小明先生，请回答同意。"

        class playback:
            started_ns = 5_000_000_000
            duration_ns = 3_000_000_000
            done = False
    s.part.prompt_started(s.ctx, s.template.nodes[0], s.run, Play)
    caption = s.view.caption
    assert caption.started_ns == 5_000_000_000
    assert [p.text for p in caption.phrases] == ["王*先生，", "请回答同意。"]
    assert caption.phrases[1].start_ms > 0
    node = canonical.encode({"number": 1, "total": 3, "title": "告知与同意"})
    assert hashlib.sha256(node).hexdigest() in [e["sha256"] for e in s.kinds("screen")
                                                if e["part"] == "node"]


def test_a_reading_node_refuses_next_until_every_page_was_shown_and_confirmed(tmp_path):
    s = Session(tmp_path)
    node = s.node(1)
    assert [d.title for d in s.view.reading.documents] == ["责任免除条款"]
    ctx, run = s.ctx, s.run
    assert s.part.refusal(ctx, node, run, s.clock.monotonic_ns()) == "pages_unread"
    assert s.view.needs == ("pages",)

    def screen(kind: str, page: int | None = None) -> None:
        s.inbox.input(InputEvent(kind, s.clock.monotonic_ns(), NOTICE_SHA, page))

    for page in (1, 2, 3):
        if page > 1:
            screen("page", page)
        screen("shown", page)
        s.drain_posted()
        assert s.view.reading.page == page
        s.clock.advance(1.0)
        s.tick(node)
    assert s.view.reading.documents[0].read_pages == (1, 2, 3)
    assert s.part.refusal(ctx, node, run, s.clock.monotonic_ns()) == "pages_unread"
    s.inbox.input(InputEvent("read", s.clock.monotonic_ns(), NOTICE_SHA))
    s.drain_posted()
    assert s.part.refusal(ctx, node, run, s.clock.monotonic_ns()) is None
    assert s.view.needs == () and s.view.reading.documents[0].confirmed
    s.part.node_ending(ctx, node, run)
    shown = s.kinds("screen_page")
    assert [(p["page"], p["read"], p["total_ms"]) for p in shown] == [
        (1, True, 1000), (2, True, 1000), (3, True, 1000)]
    assert s.kinds("screen_read") == [{"node": "reading", "document": NOTICE_SHA,
                                       "at_ns": shown[-1]["end_ns"], "accepted": True}]


def test_input_from_another_node_is_ignored_and_between_sessions_drops(tmp_path):
    s = Session(tmp_path)
    node = s.node(0)
    s.inbox.input(InputEvent("page", s.clock.monotonic_ns(), NOTICE_SHA, 2))
    s.drain_posted()                               # a late turn: not a reading node any more
    assert s.view.reading is None
    s.part.session_ending(s.ctx)
    s.part.session_ended(s.ctx, {})
    s.inbox.input(InputEvent("read", s.clock.monotonic_ns(), NOTICE_SHA))
    assert s.posted == []                          # nobody is woken between sessions
    s.part.idle(s.clock.monotonic_ns())
    assert s.view.state == "idle"
    assert not s.kinds("screen_read") and node.id == "consent"


def test_the_signature_is_shown_at_signature_nodes_only(tmp_path):
    s = Session(tmp_path)
    s.node(2)
    assert s.view.needs == ("signature",)
    assert "signature" in [e["part"] for e in s.kinds("screen")]
    s.pen.has_signature = True
    s.tick(s.template.nodes[2])
    assert s.view.needs == ()
    s.part.node_ending(s.ctx, s.template.nodes[2], s.run)
    s.tick(None)                                   # the script is complete
    assert s.view.node is None and s.view.status.startswith("所有环节已完成")


def test_people_are_shown_by_role_with_masked_names_and_bounded():
    people, names = people_of(people_json())
    assert [(p.role, p.masked_name, p.remote) for p in people] == [
        ("policyholder", "王*", False), ("insured", "李*", False), ("salesperson", "张*", False)]
    assert ("王小明", "王*") in names
    remote = b'{"customers":[{"role":"insured","name":"Anna Schmidt","remote":true}]}'
    assert people_of(remote)[0][0].remote and people_of(remote)[0][0].masked_name == "A*"
    assert people_of(b"not json") == ((), ())
    assert people_of(b" " * 300_000) == ((), ())
    assert people_of('{"customers":[{"role":"cousin","name":"王五"}]}'.encode()) == ((), ())


def test_the_idle_screen_says_the_units_state():
    assert idle_view(FlowSnapshot()).hint == "请出示双录二维码"
    assert idle_view(FlowSnapshot(last_summary={"verdict": "pass"})).status == ENDED_STATUS
    failed = idle_view(FlowSnapshot(state="selftest_failed"))
    assert failed.state == "fault" and failed.hint == "" and "自检" in failed.status
    assert idle_view(FlowSnapshot(state="fault")).state == "fault"
    assert idle_view(None).status == "正在启动…"


def test_a_library_without_a_manifest_makes_every_document_missing(tmp_path):
    library = DocumentLibrary.load(tmp_path / "nothing-delivered")
    assert library.entries == {} and "no manifest" in library.problem
    with pytest.raises(FileNotFoundError, match="no manifest"):
        library.open(NOTICE_SHA)


TEMPLATE = """
[template]
id = "t"
version = "1"
title = "t"
channel = "bank"
products = ["life"]
[[node]]
id = "consent"
title = "同意"
kind = "consent"
prompt = "请回答。"
min_seconds = 0
requires = []
documents = ["{sha}"]
[[node]]
id = "reading"
title = "阅读"
kind = "documents"
prompt = "请阅读。"
min_seconds = 0
requires = []
documents = {documents}
"""


def test_template_reading_nodes_list_documents_by_sha256_and_every_problem_is_told():
    good = parse_template(TEMPLATE.replace('documents = ["{sha}"]\n', "").format(
        documents=f'["{NOTICE_SHA}"]'))
    assert good.nodes[1].documents == (NOTICE_SHA,)
    assert good.nodes[1].as_record()["documents"] == [NOTICE_SHA]
    assert good.nodes[0].documents == () and "documents" not in good.nodes[0].as_record()
    with pytest.raises(TemplateError) as refused:
        parse_template(TEMPLATE.format(sha=NOTICE_SHA, documents=f'["{NOTICE_SHA.upper()}", '
                                       f'"{NOTICE_SHA}", "{NOTICE_SHA}"]'))
    message = str(refused.value)
    assert 'node[0] (consent).documents: only a node of kind "documents"' in message
    assert "node[1] (reading).documents[0]: must be a SHA-256" in message
    assert "node[1] (reading).documents[2]: bf8574ab804b… is listed twice" in message
    with pytest.raises(TemplateError, match=r"documents: list 1 to 16 documents, not 0"):
        parse_template(TEMPLATE.replace('documents = ["{sha}"]\n', "").format(documents="[]"))
    with pytest.raises(TemplateError, match=r"documents: must be list"):
        parse_template(TEMPLATE.replace('documents = ["{sha}"]\n', "").format(documents='"x"'))
