"""The customers' answers understood: at a node that requires an answer, what each customer says
after the prompt is transcribed and judged by the template's word lists, and NEXT waits for a
clear yes from everyone who must answer.

- Who answers (:mod:`~firmware.unit.session.answer_source`, one window each): the counter's
  microphone when the sale has a customer at the counter (a customer of ``people.json`` who is
  not ``remote``, or no ticket at all), and every remote party admitted to the session's
  meeting (``ctx.values[REMOTE_PARTIES]``), heard from their call's audio. When every customer
  is remote, the counter's microphone hears only the salesperson and is not asked. A party is
  followed (``media.listen``) from when it is first seen at an answer node to the session's
  end; a party admitted after the question was asked answers when it is asked again (REPLAY).
- Recognition runs on a thread of this part (the understanding worker process does the work,
  :mod:`firmware.unit.understanding.service`; :mod:`.answer_recogniser`), one answer at a time;
  the remote parties' answers on a second one with a worker of its own when the unit is given
  one, so that a party's answer does not wait behind the counter's. Results come back through
  ``ctx.post``.
- NEXT is refused ``answer_negative`` while an answer is negative, ``answer_unclear`` while one
  is unclear, ``answer_not_asked`` while a party that must answer joined (or came back) after
  the question was asked (only REPLAY asks it), ``missing_answer`` while one is not known yet. A
  party whose call is down is not asked here: the remote parties' part refuses
  ``remote_disconnected`` for it. When every answer of an attempt is in and one is not a yes,
  the panel buzzes and the unit's voice tells the salesperson to explain and press REPLAY
  (:data:`NOTICE`, played through the prompter); REPLAY asks everyone again: new windows once
  the prompt has replayed.
- On the chain, per window: the heard text in a sealed file (:func:`answer_file_name`:
  ``NODE-answer-N.json`` for the counter, ``NODE-answer-PARTY-N.json`` for a party; encrypted
  at rest like every session file), then an EVENT ``answer`` with ``party`` (``counter`` or the
  party's id), the meaning, the time range and that file's SHA-256.

``ctx.values["answer"]`` holds the latest ``{"node", "attempt", "party", "meaning"}`` for other
parts (the customer's screen). A recogniser that cannot load makes every answer ``unclear``
with its reason on the chain and sounds the fault signal: an answer is never accepted unheard.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

from firmware.unit.session.answer_source import (COUNTER, EXTEND_NS, HANGOVER_NS, NS, PAUSE_NS,
                                                 AnswerJob, AnswerSource, AnswerWindow,
                                                 answer_file_name, block_dbfs)
from firmware.unit.session.answer_recogniser import AnswerRecogniser
from firmware.unit.session.parts import SessionContext, SessionPart
from firmware.unit.session.quality import NodeOutcome
from firmware.unit.session.remote_parties import REMOTE_PARTIES
from firmware.unit.session.script import ScriptNode
from firmware.unit.session.session_end import UNDERSTOOD
from firmware.unit.understanding.answers import word_lists_sha256
from firmware.unit.understanding.service import Heard, Understanding

log = logging.getLogger(__name__)

__all__ = ["AnswerPart", "EXTEND_NS", "HANGOVER_NS", "NOTICE", "PAUSE_NS", "REMOTE_RATE",
           "block_dbfs", "customers_all_remote"]

#: What the unit says after a negative or unclear answer (a fixed text, rendered ahead).
NOTICE = "客户没有明确同意。请销售人员向客户解释清楚，然后按重播键，再问一次。"
#: a remote party's audio as its call hands it on (docs/remote-media.md §4): mono 48 kHz
REMOTE_RATE = 48_000
MAX_ERROR_CHARS = 300



def customers_all_remote(people_json: bytes | None) -> bool:
    """Whether the bound sale has customers and every one of them is remote (then nobody at
    the counter answers); False without a ticket's people."""
    if not people_json:
        return False
    customers = json.loads(people_json).get("customers") or []
    return bool(customers) and all(c.get("remote") for c in customers)


class AnswerPart(SessionPart):
    """``understanding`` does the recognition (this part closes it); ``parties_understanding``
    (a worker of its own, also closed here) hears the remote parties' answers, so that theirs
    never wait behind the counter's (None: ``understanding`` hears them too);
    ``say(node, text)`` plays a text through the prompter and returns its play;
    ``prepare(texts, wpm)`` renders texts ahead (the prompter's). ``rate``/``channels`` are
    the microphone's."""

    name = "answers"

    def __init__(self, understanding: Understanding, *, rate: int, channels: int,
                 say: Callable[[str, str], Any],
                 prepare: Callable[[list[str], int], None] | None = None,
                 notice: str = NOTICE,
                 parties_understanding: Understanding | None = None) -> None:
        self._recogniser = AnswerRecogniser(understanding, "answer-recogniser",
                                            lambda: self._lists, self._heard)
        self._party_recogniser = self._recogniser if parties_understanding is None else \
            AnswerRecogniser(parties_understanding, "party-answer-recogniser",
                             lambda: self._lists, self._heard)
        self._say, self._prepare, self.notice = say, prepare, notice
        self._counter = AnswerSource(COUNTER, rate, channels, self._dispatch)
        self._parties: dict[str, AnswerSource] = {}    # the flow's thread only
        self._all_remote = False
        self._answering = False                  # an answer node runs
        self._ctx: SessionContext | None = None
        self._lists: dict = {}
        self._lists_sha256 = ""
        self._node: str | None = None
        self._attempt = 0
        self._notice_due = False                 # a no or an unclear answer in this attempt
        self._notice_play = None
        self._closed = False

    # -- the flow's thread ------------------------------------------------------------------
    def session_started(self, ctx: SessionContext) -> None:
        template = ctx.binding.template
        self._ctx, self._lists = ctx, dict(template.answers)
        self._lists_sha256 = word_lists_sha256(self._lists) if self._lists else ""
        self._all_remote = customers_all_remote(getattr(ctx.binding, "people_json", None))
        self._parties = {}
        if any("answer" in n.requires for n in template.nodes):
            self._recogniser.warm()
            if self._prepare is not None:
                self._prepare([self.notice], template.words_per_minute)

    def node_started(self, ctx: SessionContext, node: ScriptNode, run: NodeOutcome) -> None:
        self._answering = "answer" in node.requires
        self._node, self._attempt, self._notice_due = node.id, 0, False
        self._counter.arm(self._answering and self._counter_answers(ctx))
        for source in self._parties.values():
            source.arm(self._answering)
        if self._answering:
            self._follow_parties(ctx)

    def tick(self, ctx: SessionContext, node: ScriptNode | None, now_ns: int) -> None:
        if self._answering:
            self._follow_parties(ctx)
            self._maybe_notice(ctx)

    def prompt_started(self, ctx, node, run, play) -> None:
        if "answer" in node.requires and play is not self._notice_play:
            self._new_question()
            self._recogniser.warm()
            if self._parties:
                self._party_recogniser.warm()

    def replayed(self, ctx, node, run) -> None:
        self._new_question()

    def prompt_ended(self, ctx, node, run, play) -> None:
        if "answer" not in node.requires or play is self._notice_play or node.id != self._node:
            return
        self._attempt += 1
        self._notice_due = False
        self._follow_parties(ctx)
        for source in self._sources():
            source.open_window(node.id, self._attempt, play.playback.ended_ns,
                               node.answer_seconds)

    def refusal(self, ctx, node, run, now_ns) -> str | None:
        if "answer" not in node.requires:
            return None
        answerers = self._answerers(ctx)
        meanings = [self._meaning_of(ctx, party) for party in answerers]
        for meaning, reason in (("negative", "answer_negative"), ("unclear", "answer_unclear")):
            if meaning in meanings:
                return reason
        if any(self._not_asked(party) for party in answerers):
            return "answer_not_asked"
        return "missing_answer" if None in meanings else None

    def node_ending(self, ctx, node, run) -> None:
        if self._answering:
            self._mark_understood(ctx, node.id)
        self._answering = False
        for source in self._sources(every=True):
            source.arm(False)

    def session_ending(self, ctx: SessionContext) -> None:
        self._answering = False
        for source in self._sources(every=True):
            source.arm(False)
        self._unsubscribe()

    def session_ended(self, ctx: SessionContext, summary: dict) -> None:
        self._ctx = None
        for recogniser in self._recognisers():   # the workers' memory back while idle
            recogniser.release()

    def close(self) -> None:
        """Stop the recognition threads and the understanding workers; safe twice."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        for recogniser in self._recognisers():
            recogniser.close()

    def _recognisers(self) -> list[AnswerRecogniser]:
        return list({id(r): r for r in (self._recogniser, self._party_recogniser)}.values())

    # -- who answers (the flow's thread) -----------------------------------------------------
    def _counter_answers(self, ctx: SessionContext) -> bool:
        """The counter's customer answers unless every customer is remote and the meeting
        holds their seats (without a meeting the counter is still asked: nobody else can)."""
        view = ctx.values.get(REMOTE_PARTIES)
        return not (self._all_remote and view is not None and view.remote_seats())

    def _answerers(self, ctx: SessionContext) -> list[str]:
        """Whose answer NEXT waits for now: the counter (when it answers) and every admitted
        party whose call is up."""
        view = ctx.values.get(REMOTE_PARTIES)
        remote = [s.party for s in view.admitted() if s.media.connected] if view else []
        return ([COUNTER] if self._counter_answers(ctx) else []) + remote

    def _not_asked(self, party: str) -> bool:
        """Whether ``party`` has no window although the question was asked: it joined (or its
        call came back) after the prompt ended, so only a replay can ask it."""
        if self._attempt == 0:
            return False
        source = self._counter if party == COUNTER else self._parties.get(party)
        if source is None:                  # admitted since the last tick: not followed yet
            return True
        if not source.armed or source.meaning is not None:   # armed: it can be asked
            return False
        window = source.window
        return window is None or window.node != self._node or window.attempt != self._attempt

    def _meaning_of(self, ctx: SessionContext, party: str) -> str | None:
        source = self._counter if party == COUNTER else self._parties.get(party)
        return source.meaning if source is not None else None

    def _sources(self, every: bool = False) -> list[AnswerSource]:
        """The sources asked at this node (``every``: all of them)."""
        return [s for s in [self._counter, *self._parties.values()] if every or s.armed]

    def _follow_parties(self, ctx: SessionContext) -> None:
        """Listen to each admitted party not followed yet (it may join after the start)."""
        view = ctx.values.get(REMOTE_PARTIES)
        for seated in view.admitted() if view is not None else ():
            if seated.party in self._parties:
                continue
            source = AnswerSource(seated.party, REMOTE_RATE, 1, self._dispatch)
            if not self._parties and self._answering:
                self._party_recogniser.warm()     # the first party: its worker loads now
            self._parties[seated.party] = source
            try:
                source.unsubscribe = seated.media.listen(source.feed)
            except Exception as exc:  # noqa: BLE001 - its answer stays missing: NEXT refused
                log.error("remote party %s cannot be listened to: %s", seated.party, exc)
                continue
            source.arm(self._answering)

    def _new_question(self) -> None:
        self._notice_due = False
        for source in self._sources(every=True):
            source.close_window()

    def _unsubscribe(self) -> None:
        parties, self._parties = list(self._parties.values()), {}
        for source in parties:
            if source.unsubscribe is not None:
                source.unsubscribe()

    # -- the audio's threads ----------------------------------------------------------------
    def audio_block(self, block) -> None:
        """The microphone's block (its thread): kept while the counter answers."""
        self._counter.feed(block)

    def _dispatch(self, source: AnswerSource, jobs: list[AnswerJob],
                  promoted: AnswerWindow | None) -> None:
        """What a source's audio produced (any thread): jobs queued for the recogniser; a
        window whose answer is now known committed on the flow's thread."""
        recogniser = self._recogniser if source is self._counter else self._party_recogniser
        for job in jobs:
            recogniser.submit(source, job)
        ctx = self._ctx
        if promoted is not None and ctx is not None:
            ctx.post(lambda: self._try_commit(source, promoted))

    def _heard(self, source: AnswerSource, job: AnswerJob, result: tuple) -> None:
        """A recogniser's result (its thread): decided on the flow's thread."""
        ctx = self._ctx
        if ctx is not None:
            ctx.post(lambda: self._result(source, job, result))

    # -- back on the flow's thread ----------------------------------------------------------
    def _result(self, source: AnswerSource, job: AnswerJob, result: tuple) -> None:
        source.keep_result(job, result)
        self._try_commit(source, job.window)

    def _try_commit(self, source: AnswerSource, window: AnswerWindow) -> None:
        result = source.commit(window)
        ctx = self._ctx
        if result is not None and ctx is not None:
            self._decide(ctx, source, window, *result)

    def _decide(self, ctx: SessionContext, source: AnswerSource, w: AnswerWindow,
                heard: Heard | None, error: str | None, wall_ms: int) -> None:
        meaning = heard.meaning if heard is not None and heard.meaning else "unclear"
        base = w.audio_start_ns if w.audio_start_ns is not None else w.start_ns
        segments = heard.segments if heard is not None else ()
        text = {"node": w.node, "attempt": w.attempt, "party": w.party,
                "heard": heard.text if heard else "",
                "segments": [{"start_ns": base + int(s * NS), "end_ns": base + int(e * NS),
                              "text": t} for s, e, t in segments]}
        sealed = ctx.seal(answer_file_name(w.node, w.party, w.attempt),
                          (json.dumps(text, ensure_ascii=False, sort_keys=True, indent=1)
                           + "\n").encode("utf-8"),
                          {"stream": "answer_text", "node": w.node, "attempt": w.attempt,
                           "party": w.party})
        decided = ctx.now_ns()
        data = {"node": w.node, "attempt": w.attempt, "party": w.party, "meaning": meaning,
                "word": heard.word if heard is not None else None,
                "start_ns": w.start_ns, "end_ns": w.cut_ns,
                "speech_start_ns": text["segments"][0]["start_ns"] if segments else None,
                "speech_end_ns": text["segments"][-1]["end_ns"] if segments else None,
                "voice_end_ns": w.speech_end_ns, "decided_ns": decided,
                "heard_file": sealed.files[0].path, "heard_sha256": sealed.files[0].sha256,
                "words_sha256": self._lists_sha256, "wall_ms": wall_ms,
                "recognise_ms": int(heard.recognise_s * 1000) if heard else None,
                "cpu_ms": int(heard.cpu_s * 1000) if heard else None}
        if error is not None:
            data["error"] = error[:MAX_ERROR_CHARS]
        ctx.event("answer", data)
        source.meaning = meaning
        ctx.values["answer"] = {"node": w.node, "attempt": w.attempt, "party": w.party,
                                "meaning": meaning}
        self._mark_understood(ctx, w.node)
        end = w.speech_end_ns if w.speech_end_ns is not None else w.cut_ns
        log.info("answer at %s (attempt %d, %s): %s, known %.0f ms after the answer's end",
                 w.node, w.attempt, w.party, meaning, (decided - end) / 1e6)
        if error is not None:
            ctx.signal("fault")
        if meaning != "affirmative":
            self._notice_due = True
        self._maybe_notice(ctx)

    def _mark_understood(self, ctx: SessionContext, node_id: str) -> None:
        """The node counts as answered with a clear yes while every answer NEXT waits for is
        one (the session's quality checks read it)."""
        answerers = self._answerers(ctx)
        yes = bool(answerers) and all(self._meaning_of(ctx, p) == "affirmative"
                                      for p in answerers)
        understood = ctx.values.setdefault(UNDERSTOOD, set())
        if yes:
            understood.add(node_id)
        else:
            understood.discard(node_id)

    def _maybe_notice(self, ctx: SessionContext) -> None:
        """After a no or an unclear answer: once every window of the attempt is decided (or
        its party's call is down), buzz and tell the salesperson, once. Waiting keeps the
        unit's voice out of answers still being given at the counter."""
        if not self._notice_due:
            return
        view = ctx.values.get(REMOTE_PARTIES)
        up = {s.party for s in view.admitted() if s.media.connected} if view else set()
        for source in self._sources():
            window = source.window
            if window is not None and not window.committed \
                    and (source.party == COUNTER or source.party in up):
                return
        self._notice_due = False
        ctx.signal("refused")
        try:
            self._notice_play = self._say(self._node, self.notice)
        except Exception as exc:  # noqa: BLE001 - the refusal stands without the voice
            log.error("the answer notice could not be played: %s", exc)
