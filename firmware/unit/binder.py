"""What the next session records: the script template, the mode, the people and the policy.

The default binding comes from the configuration; a ``people.json`` (docs/people.md) binds one
session to its people, and a policyholder aged 60 or over selects the template's elder variant.
After that session the unit goes back to its default binding.
"""
from __future__ import annotations

import datetime as dt

from drivers.clock import Clock
from firmware.people import People, needs_elder_variant
from firmware.unit.control import ControlError
from firmware.unit.session.binding import Binding
from firmware.unit.session.script import ScriptTemplate


class Binder:
    def __init__(self, templates: dict[str, ScriptTemplate], clock: Clock, *,
                 template: str, mode: str) -> None:
        if template not in templates:
            raise ValueError(f"[session] template {template!r} is not among the scripts: "
                             f"{', '.join(sorted(templates))}")
        self.templates = templates
        self.clock = clock
        self.default = Binding(templates[template], mode=mode)

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
        return Binding(self.template_for(template, people), mode=mode or self.default.mode,
                       application_no=people.application_number,
                       people_json=people.to_json(), summary=people.summary())
