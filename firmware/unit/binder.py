"""What the next session records: the script template, the mode, the people and the policy.

The sale's signed ticket binds a session (:class:`TicketBinder`): the template follows the
product, the prompts speak the policy's facts, a policyholder aged 60 or over selects the
template's elder variant. Without a ticket the default binding comes from the configuration;
a ``people.json`` (docs/people.md, ``dualrec bind``) binds one session to its people. After
that session the unit goes back to its default binding.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

from drivers.clock import Clock
from firmware.people import ELDER_AGE, People, needs_elder_variant
from firmware.ticket import Ticket
from firmware.unit.control import ControlError
from firmware.unit.session.binding import Binding
from firmware.unit.session.script import ScriptTemplate
from firmware.unit.session.wording import product_facts


class Binder:
    def __init__(self, templates: dict[str, ScriptTemplate], clock: Clock, *,
                 template: str, mode: str) -> None:
        if template not in templates:
            raise ValueError(f"[session] template {template!r} is not among the scripts: "
                             f"{', '.join(sorted(templates))}")
        self.templates = templates
        self.clock = clock
        tpl = templates[template]
        self.default = Binding(tpl, mode=mode, prompts=rendered_prompts(tpl, UNBOUND_FACTS))

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock.realtime_ns() / 1e9, dt.timezone.utc).date()

    def template_for(self, template: str | None, people: People | None) -> ScriptTemplate:
        """``template`` (default: the configured one), or its elder variant when the
        policyholder is 60 or over; ControlError names what is missing."""
        tpl = self.templates.get(template or self.default.template.id)
        if tpl is None:
            raise ControlError(f"template {template!r}: one of {', '.join(sorted(self.templates))}")
        if people is not None and needs_elder_variant(people, self._today()) and not tpl.elder:
            elder = self.templates.get(f"{tpl.id}-elder")
            if elder is None:
                raise ControlError(f"the policyholder is 60 or over, and template {tpl.id!r} "
                                   f"has no elder variant ({tpl.id}-elder)")
            tpl = elder
        return tpl

    def for_people(self, people_json: bytes, *, template: str | None = None,
                   mode: str | None = None) -> Binding:
        """A binding for one session from its ``people.json`` (checked)."""
        people = People.from_json(people_json)
        tpl = self.template_for(template, people)
        return Binding(tpl, mode=mode or self.default.mode,
                       application_no=people.application_number,
                       people_json=people.to_json(), summary=people.summary(),
                       prompts=rendered_prompts(tpl, UNBOUND_FACTS))


#: What a prompt with the sale's fields says when no ticket bound the session (allowed only
#: where the configuration says so): the salesperson states the facts instead.
UNBOUND_FACTS = {
    "insurer": "本保险公司", "product": "本产品", "product_kind": "保险产品",
    "premium": "保险合同约定的金额", "premium_period": "按合同约定",
    "frequency": "按合同约定交费", "payment_years": "合同约定的期间",
    "payment": "按合同约定交费", "insurance_period": "合同约定的期间",
    "coverage": "按合同约定", "cooling_off_days": "合同约定的天数",
}


def rendered_prompts(template: ScriptTemplate, facts: dict[str, str]) -> dict[str, str]:
    """Each node's prompt with the sale's facts in place (TemplateError naming the node and
    the field when a prompt names a field the facts do not give)."""
    from firmware.unit.session.script import TemplateError
    from firmware.unit.session.wording import PromptFieldError, render_prompt
    out = {}
    for node in template.nodes:
        try:
            out[node.id] = render_prompt(node.prompt, facts)
        except PromptFieldError as exc:
            raise TemplateError(f"{template.path}: node {node.id}: {exc}") from None
    return out


def script_record(template: ScriptTemplate, prompts: dict[str, str],
                  facts: dict[str, str]) -> bytes:
    """``script.json``: exactly what each node says, sealed with the session (encrypted at rest
    like the people: the facts are the customer's)."""
    body = {"template": template.as_record(), "facts": facts,
            "nodes": [{"id": n.id, "title": n.title, "prompt": prompts[n.id]}
                      for n in template.nodes]}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")


def ticket_people_json(ticket: Ticket, session_date: dt.date) -> bytes:
    """``people.json`` of a ticket-bound session: the customers by role (docs/people.md's
    customer form) and the roster id of the salesperson the ticket names (the salesperson's
    own identity is bound by the staff badge, sealed as ``salesperson.json``)."""
    return json.dumps({"application_number": ticket.application_number,
                       "session_date": session_date.isoformat(), "staff_id": ticket.staff_id,
                       "customers": [p.to_dict() for p in ticket.people]},
                      ensure_ascii=False, sort_keys=True).encode("utf-8")


class TicketBinder:
    """A session's binding from the sale's ticket: the template chosen by the product's kind
    (and its elder variant when the policyholder is 60 or over), the prompts with the policy's
    facts in Chinese, the people, the mode, the documents the ticket adds to the reading nodes
    (``Binding.documents``), and what the chain records of the ticket."""

    def __init__(self, binder: Binder) -> None:
        self._binder = binder

    def template_for(self, ticket: Ticket, today: dt.date) -> ScriptTemplate:
        kind = ticket.product.kind
        base = [t for t in self._binder.templates.values()
                if not t.elder and kind in t.products]
        if not base:
            raise ControlError(f"no script template covers products of kind {kind!r}")
        tpl = sorted(base, key=lambda t: t.id)[0]
        if ticket.policyholder.age_on(today) >= ELDER_AGE and not tpl.elder:
            elder = self._binder.templates.get(f"{tpl.id}-elder")
            if elder is None:
                raise ControlError(f"the policyholder is 60 or over, and template {tpl.id!r} "
                                   f"has no elder variant ({tpl.id}-elder)")
            tpl = elder
        return tpl

    def bind(self, ticket: Ticket, signer: str) -> Binding:
        today = self._binder._today()
        tpl = self.template_for(ticket, today)
        facts = product_facts(ticket.insurer, ticket.product)
        prompts = rendered_prompts(tpl, facts)
        script = script_record(tpl, prompts, facts)
        summary = {**ticket.summary(), "signer": signer,
                   "script_sha256": hashlib.sha256(script).hexdigest()}
        # the policyholder who insures themself is one person in two roles
        at_counter = len({p.customer.id_number for p in ticket.people if not p.remote})
        return Binding(tpl, mode=ticket.mode, application_no=ticket.application_hash,
                       people_json=ticket_people_json(ticket, today),
                       summary={"roles": summary["roles"], "remote": summary["remote"]},
                       prompts=prompts, ticket=summary, script_json=script,
                       counter_people=1 + at_counter, facts=facts,
                       documents=tuple(doc.sha256 for doc in ticket.documents))
