"""Who must sign and read at a node, and where (issue 17): the rule over every set of people,
roles and remote flags (hypothesis), the template keys that name the roles, the quality check
that agrees with NEXT, and the remote parties' screens asked (or not) to sign."""
from __future__ import annotations

import json
import queue
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.clock import SimClock
from firmware.unit.display.documents import DocumentLibrary
from firmware.unit.display.reading_node import ReadingNode
from firmware.unit.remote.screen_link import ScreenEvent
from firmware.unit.session.binding import Binding
from firmware.unit.session.node_duties import (COUNTER, REMOTE, SalePerson, node_duties,
                                               sale_people, session_people, shows_documents)
from firmware.unit.session.parts import SessionContext
from firmware.unit.session.quality import NodeOutcome, SessionFacts, check_session
from firmware.unit.session.remote_parties import REMOTE_PARTIES, RemoteSeated
from firmware.unit.session.remote_screen import RemoteScreenPart
from firmware.unit.session.script import (ACTOR_ROLES, SCRIPTS_DIR, TemplateError,
                                          load_templates, parse_template)
from tests.session.remote_fakes import WANG, ZHAO, Call, Meeting

S = 1_000_000_000
REPO = Path(__file__).resolve().parents[2]
NOTICE = "bf8574ab804b9e90c4a6b51dabf421d2f6111b586bf102dd4dc2c720727858f3"

HEAD = """
[template]
id = "duties"
version = "1"
title = "t"
channel = "bank"
products = ["life"]
elder = false

[[node]]
id = "consent"
title = "同意"
kind = "consent"
prompt = "请回答同意。"
"""


def template(*nodes: str):
    return parse_template(HEAD + "".join(nodes))


SIGN = """
[[node]]
id = "sign"
title = "签名"
kind = "signature"
prompt = "请签名。"
requires = ["signature"]
"""
SIGN_HOLDER = SIGN.replace('"sign"', '"sign-holder"') + 'signers = ["policyholder"]\n'
READ = f"""
[[node]]
id = "read"
title = "阅读"
kind = "documents"
prompt = "请阅读。"
documents = ["{NOTICE}"]
"""


# -- the rule -------------------------------------------------------------------------------
people_strategy = st.lists(st.tuples(st.sampled_from(ACTOR_ROLES), st.booleans()),
                           min_size=1, max_size=6).map(
    lambda ps: tuple(SalePerson(i, role, remote) for i, (role, remote) in enumerate(ps)))
roles_strategy = st.none() | st.lists(st.sampled_from(ACTOR_ROLES), min_size=1,
                                      max_size=3, unique=True).map(tuple)


def node_with(signers, readers):
    tpl = template(SIGN, READ)
    sign, read = tpl.nodes[1], tpl.nodes[2]
    return (sign.__class__(**{**sign.__dict__, "signers": signers}),
            read.__class__(**{**read.__dict__, "readers": readers}))


@settings(max_examples=300, deadline=None)
@given(people=people_strategy, signers=roles_strategy, readers=roles_strategy,
       split=st.integers(0, 6))
def test_the_counter_acts_iff_a_required_person_is_there_and_a_party_iff_it_holds_one(
        people, signers, readers, split):
    sign, read = node_with(signers, readers)
    remote = [p.seat for p in people if p.remote]
    parties = {"p1": tuple(remote[:split]), "p2": tuple(remote[split:])}   # who joined how
    signs, reads = node_duties(sign, people, parties), node_duties(read, people, parties)
    want_sign, want_read = set(signers or ACTOR_ROLES), set(readers or ACTOR_ROLES)

    assert signs.counter_signs == any(p.role in want_sign and not p.remote for p in people)
    assert reads.counter_reads == any(p.role in want_read and not p.remote for p in people)
    assert not signs.counter_reads and not reads.counter_signs
    for seats in parties.values():
        assert signs.party_signs(seats) == any(people[s].role in want_sign for s in seats)
        assert reads.party_reads(seats) == any(people[s].role in want_read for s in seats)
        assert not signs.party_reads(seats) and not reads.party_signs(seats)
    record = signs.as_record()
    assert list(record) == ["signers"]
    assert record["signers"] == [
        {"where": REMOTE if p.remote else COUNTER, "role": p.role, "seat": p.seat,
         **({"party": "p1" if p.seat in parties["p1"] else "p2"} if p.remote else {})}
        for p in people if p.role in want_sign]


@given(seats=st.lists(st.integers(0, 5), max_size=3).map(tuple))
def test_without_the_sales_people_the_counter_and_every_party_act(seats):
    sign, read = node_with(("insured",), ("guardian",))
    assert node_duties(sign, None).counter_signs and node_duties(sign, None).party_signs(seats)
    assert node_duties(read, None).counter_reads and node_duties(read, None).party_reads(seats)
    assert node_duties(sign, None).as_record() == {"signers": [{"where": "counter"}]}


def test_a_node_that_takes_no_signature_and_shows_nothing_asks_nobody():
    consent = template(SIGN).nodes[0]
    people = (SalePerson(0, "policyholder", False),)
    duties = node_duties(consent, people)
    assert not duties.counter_signs and not duties.counter_reads
    assert not duties.party_signs((0,)) and duties.as_record() == {}
    shipped = load_templates(SCRIPTS_DIR)["bank-life"].nodes
    documents = next(n for n in shipped if n.kind == "documents")
    assert not shows_documents(documents, ()) and shows_documents(documents, (NOTICE,))


def test_people_json_is_read_for_roles_and_remote_flags_only():
    people = json.dumps({"customers": [
        {"role": "policyholder", "name": ZHAO[0], "id_number": ZHAO[1], "remote": True},
        {"role": "insured", "name": WANG[0], "id_number": WANG[1]}]}).encode()
    assert sale_people(people) == (SalePerson(0, "policyholder", True),
                                   SalePerson(1, "insured", False))
    for bad in (None, b"", b"not json", b'{"customers": []}', b'{"customers": [{"role": 1}]}',
                b'{"customers": [{"role": "insured", "remote": "yes"}]}', b"[]",
                b" " * (256 * 1024 + 1)):
        assert sale_people(bad) is None
    ctx = SessionContext("s", Binding(template(SIGN), people_json=people), event=None,
                         seal=None, post=None, signal=None, now_ns=None, wall_ns=None)
    assert session_people(ctx) is session_people(ctx)          # read once a session


# -- the template keys ------------------------------------------------------------------------
@pytest.mark.parametrize("extra, problem", [
    ('signers = ["beneficiary"]', "node[1] (sign).signers[0]: 'beneficiary' is not a role"),
    ('signers = ["insured", "insured"]', "node[1] (sign).signers[1]: 'insured' is listed twice"),
    ('signers = []', "node[1] (sign).signers: must be a list of 1 to 3 roles"),
    ('signers = "insured"', "node[1] (sign).signers: must be a list of 1 to 3 roles"),
    ('readers = ["insured"]', "node[1] (sign).readers: only a node of kind \"documents\""),
])
def test_bad_signers_or_readers_are_refused_naming_the_node_and_the_key(extra, problem):
    with pytest.raises(TemplateError) as refused:
        template(SIGN + extra + "\n")
    assert problem in str(refused.value)
    assert isinstance(refused.value, ValueError)               # a configuration error


def test_signers_only_where_a_signature_is_taken_and_readers_kept_in_the_record():
    with pytest.raises(TemplateError, match=r"node\[1\] \(read\)\.signers: only a node that "
                                            "requires a signature"):
        template(READ + 'signers = ["insured"]\n')
    tpl = template(SIGN_HOLDER, READ + 'readers = ["policyholder", "guardian"]\n')
    assert tpl.nodes[1].signers == ("policyholder",)
    assert tpl.nodes[2].readers == ("policyholder", "guardian")
    assert tpl.nodes[1].as_record()["signers"] == ["policyholder"]
    assert "signers" not in template(SIGN).nodes[1].as_record()


def test_the_shipped_application_form_is_signed_by_the_customers_of_the_sale():
    for tpl in load_templates(SCRIPTS_DIR).values():
        [sign] = [n for n in tpl.nodes if n.kind == "signature"]
        assert sign.signers == ("policyholder", "insured", "guardian"), tpl.id


# -- the quality check agrees with NEXT -----------------------------------------------------------
def facts(tpl, people, signature: str | None):
    nodes = [NodeOutcome(n.id, n.title, n.kind, i * 10 * S, i * 10 * S + 5 * S)
             for i, n in enumerate(tpl.nodes)]
    nodes[1].signature = signature
    return SessionFacts(template=tpl, nodes=nodes, video=[], voiced=lambda *_: None, gaps=[],
                        segments=[], frame_ns=66_000_000, clock_synced_start=True,
                        clock_synced_end=True, mode="audio_photo", people=people)


@pytest.mark.parametrize("people, finding", [
    (None, True),                                                           # unknown: the pad
    ((SalePerson(0, "policyholder", True), SalePerson(1, "insured", True)), False),
    ((SalePerson(0, "policyholder", False), SalePerson(1, "insured", True)), True),
    ((SalePerson(0, "policyholder", True), SalePerson(1, "insured", False)), False),
])
def test_missing_signature_only_when_someone_who_signs_was_at_the_counter(people, finding):
    tpl = template(SIGN_HOLDER)
    checks = [f.check for f in check_session(facts(tpl, people, None))]
    assert ("missing_signature" in checks) == finding
    assert "missing_signature" not in [f.check for f in check_session(
        facts(tpl, people, "sessions/s/sign-holder-signature.png"))]
    unfinished = facts(tpl, people, None)
    unfinished.nodes[1].end_ns = None
    checks = [f.check for f in check_session(unfinished)]
    assert "node_missing" in checks and ("missing_signature" in checks) == finding


# -- the counter's reading ----------------------------------------------------------------------
def test_the_counter_reading_refuses_next_only_when_required():
    library = DocumentLibrary(REPO / "config" / "documents")
    clock = SimClock()
    seen: list = []
    required = ReadingNode("read", [NOTICE], library, clock, lambda *r: seen.append(r))
    optional = ReadingNode("read", [NOTICE], library, clock, lambda *r: seen.append(r),
                           required=False)
    assert required.refusal(clock.monotonic_ns()) == "pages_unread"
    assert optional.refusal(clock.monotonic_ns()) is None
    assert optional.view(clock.monotonic_ns()) is not None          # still shown
    assert [k for k, _ in seen] == ["screen_documents", "screen_documents"]


# -- the remote parties' screens ------------------------------------------------------------------
class ScreenCall(Call):
    """A party's call with its screen channel (the ``ScreenMedia`` protocol)."""

    def __init__(self) -> None:
        super().__init__()
        self.callback = None
        self.sent: list[dict] = []

    def on_screen(self, callback):
        self.callback = callback
        return lambda: None

    def send_screen(self, *messages) -> None:
        self.sent.extend(json.loads(m) for m in messages if isinstance(m, str))

    def signature(self) -> dict | None:
        return [m for m in self.sent if m["type"] == "view"][-1]["signature"]

    def needs(self) -> list[str]:
        view = [m for m in self.sent if m["type"] == "view"][-1]["view"]
        return [n["need"] for n in (view.get("needs") or {}).get("needs", [])]


class Session:
    """The remote screens' part in a session of ``people`` (role, remote) on the test's
    thread: party ``p1`` holds the remote seats given to :meth:`admit`."""

    def __init__(self, tpl, people: list[tuple[str, bool]]) -> None:
        customers = [{"role": role, "name": ZHAO[0], "id_type": "resident_id",
                      "id_number": ZHAO[1], "remote": remote} for role, remote in people]
        self.events: list[tuple[str, dict]] = []
        self.posted: queue.Queue = queue.Queue()
        self.now = 100 * S
        self.meeting = Meeting(tuple(i for i, (_, r) in enumerate(people) if r))
        self.ctx = SessionContext(
            "s1", Binding(tpl, people_json=json.dumps({"customers": customers}).encode()),
            event=lambda k, d: self.events.append((k, d)), seal=self._seal,
            post=self.posted.put, signal=lambda _s: None, now_ns=lambda: self.now,
            wall_ns=lambda: 0)
        self.ctx.values[REMOTE_PARTIES] = self.meeting
        self.part = RemoteScreenPart(DocumentLibrary(REPO / "config" / "documents"),
                                     SimClock())
        self.part.session_started(self.ctx)
        self.calls: dict[str, ScreenCall] = {}

    def _seal(self, name, content, data):
        return SimpleNamespace(files=[SimpleNamespace(path=f"sessions/s1/{name}")])

    def admit(self, party: str, seats: tuple[int, ...]) -> ScreenCall:
        call = ScreenCall()
        self.meeting.parties.append(RemoteSeated(party, seats, call))
        self.calls[party] = call
        return call

    def start(self, node):
        self.node, self.run = node, NodeOutcome(node.id, node.title, node.kind, self.now)
        self.part.node_started(self.ctx, node, self.run)
        self.part.tick(self.ctx, node, self.now)
        for party, call in self.calls.items():
            call.callback(ScreenEvent("open", party, 1, self.now))
        self.drain()

    def drain(self) -> None:
        while not self.posted.empty():
            self.posted.get()()
        self.part.tick(self.ctx, self.node, self.now)

    def sign(self, party: str) -> None:
        self.calls[party].callback(ScreenEvent("message", party, 1, self.now, data=json.dumps(
            {"type": "signature", "node": self.node.id, "width": 360, "height": 180,
             "strokes": [{"t": [0, 16, 33], "x": [20, 40, 60], "y": [100, 80, 60]}]})))
        self.drain()

    def refusal(self) -> str | None:
        return self.part.refusal(self.ctx, self.node, self.run, self.now)


def test_every_remote_party_holding_a_signer_signs_and_only_those():
    tpl = template(SIGN, SIGN_HOLDER)
    session = Session(tpl, [("policyholder", True), ("insured", True)])
    holder, insured = session.admit("p1", (0,)), session.admit("p2", (1,))
    session.start(tpl.nodes[1])                                 # signers: everyone
    assert holder.signature() == insured.signature() == {"node": "sign", "state": "wanted"}
    session.sign("p1")
    assert session.refusal() == "remote_signing"
    session.sign("p2")
    assert session.refusal() is None
    assert insured.signature() == {"node": "sign", "state": "sealed"}

    session.part.node_ending(session.ctx, session.node, session.run)
    session.start(tpl.nodes[2])                                 # signers: the policyholder
    assert holder.signature() == {"node": "sign-holder", "state": "wanted"}
    assert insured.signature() is None                          # not asked
    assert "signature" in holder.needs() and "signature" not in insured.needs()
    assert session.refusal() == "remote_signing"
    session.sign("p2")                                          # refused: not its to give
    [refused] = [d for k, d in session.events if k == "remote_screen_refused"]
    assert refused["party"] == "p2" and "no signature from this party" in refused["rule"]
    assert session.refusal() == "remote_signing"
    session.sign("p1")
    assert session.refusal() is None
    signed = [(d["party"], d["node"]) for k, d in session.events if k == "remote_signature"]
    assert signed == [("p1", "sign"), ("p2", "sign"), ("p1", "sign-holder")]


def test_with_the_policyholder_at_the_counter_the_remote_insured_signs_too():
    tpl = template(SIGN, SIGN_HOLDER)
    session = Session(tpl, [("policyholder", False), ("insured", True)])
    insured = session.admit("p1", (1,))
    people = session_people(session.ctx)
    session.start(tpl.nodes[1])
    assert node_duties(tpl.nodes[1], people).counter_signs            # the pad, and
    assert insured.signature() == {"node": "sign", "state": "wanted"}  # the phone
    assert session.refusal() == "remote_signing"
    session.sign("p1")
    assert session.refusal() is None
    session.part.node_ending(session.ctx, session.node, session.run)
    session.start(tpl.nodes[2])                                 # the policyholder's only
    assert node_duties(tpl.nodes[2], people).counter_signs
    assert insured.signature() is None and session.refusal() is None
