"""``dualrec speak TEXT --out FILE.wav`` (the unit's voice, for technicians and tests),
``dualrec script render --ticket-spec FILE.json`` (the prompts a ticket would produce, for an
insurer to approve the wording before it ships) and ``dualrec script prepare`` (every fixed
prompt of every template rendered into the unit's prompt cache, at install: a session never
waits for the voice on wording that could be rendered before any ticket came)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from firmware.errors import ConfigError, DualrecError


def cmd_speak(args: argparse.Namespace) -> int:
    from drivers.errors import DriverError
    from drivers.speech import speak_to_file
    from firmware.config.loading import load_config
    from firmware.unit.hardware import models_dir
    try:
        config = load_config(args.config)
        text = sys.stdin.read() if args.text == "-" else args.text
        done = speak_to_file(text, Path(args.out), model_dir=models_dir(config),
                             voice=args.voice or config.speech.voice,
                             words_per_minute=args.wpm)
    except (ConfigError, DriverError, OSError, ValueError) as exc:
        print(f"dualrec speak: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {done.seconds:.1f} s of speech, synthesised in {done.synth_s:.1f} s")
    return 0


def render_for_spec(spec: dict[str, Any], template_id: str | None,
                    scripts_dir: str = "") -> dict[str, Any]:
    """``{"template": id, "nodes": [{"id", "title", "prompt"}]}`` for a ticket spec."""
    from drivers.clock import SystemClock
    from firmware.ticket import ticket_from_spec
    from firmware.unit.binder import Binder, TicketBinder, rendered_prompts
    from firmware.unit.session.script import SCRIPTS_DIR, load_templates
    from firmware.unit.session.wording import product_facts
    now = dt.datetime.now(dt.timezone.utc)
    ticket = ticket_from_spec(spec, now)
    templates = load_templates(scripts_dir or SCRIPTS_DIR)
    binder = Binder(templates, SystemClock(), template=next(iter(sorted(templates))),
                    mode="av")
    if template_id is None:
        tpl = TicketBinder(binder).template_for(ticket, now.date())
    elif template_id in templates:
        tpl = templates[template_id]
    else:
        raise ConfigError(f"template {template_id!r}: one of {', '.join(sorted(templates))}")
    prompts = rendered_prompts(tpl, product_facts(ticket.insurer, ticket.product))
    return {"template": tpl.id, "version": tpl.version, "sha256": tpl.sha256,
            "nodes": [{"id": n.id, "title": n.title, "prompt": prompts[n.id]}
                      for n in tpl.nodes]}


def cmd_script_render(args: argparse.Namespace) -> int:
    try:
        spec = json.loads(Path(args.ticket_spec).read_text(encoding="utf-8"))
        out = render_for_spec(spec, args.template, args.scripts_dir or "")
    except (DualrecError, OSError, ValueError) as exc:
        print(f"dualrec script render: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"template": out["template"], "nodes": out["nodes"]},
                         ensure_ascii=False, indent=2))
        return 0
    print(f"template {out['template']} version {out['version']} (sha256 {out['sha256']})")
    for n, node in enumerate(out["nodes"], start=1):
        print(f"\n{n}. {node['title']} [{node['id']}]\n   {node['prompt']}")
    return 0


def fixed_prompts(templates: dict) -> dict[int, list[str]]:
    """Every template's prompts that no ticket changes (no ``{field}``), and what the unit
    says after an unclear answer, by pace (words a minute)."""
    from firmware.unit.session.answers import NOTICE
    by_pace: dict[int, list[str]] = {}
    for tpl in templates.values():
        texts = by_pace.setdefault(tpl.words_per_minute, [])
        texts += [n.prompt for n in tpl.nodes if "{" not in n.prompt and n.prompt not in texts]
        if any("answer" in n.requires for n in tpl.nodes) and NOTICE not in texts:
            texts.append(NOTICE)
    return by_pace


def cmd_script_prepare(args: argparse.Namespace) -> int:
    from drivers.errors import DriverError
    from drivers.speech import KokoroSpeech
    from firmware.config.loading import load_config
    from firmware.unit.hardware import recorded_prompts, unit_synthesizer
    from firmware.unit.session.script import SCRIPTS_DIR, load_templates
    try:
        config = load_config(args.config)
        by_pace = fixed_prompts(load_templates(config.session.scripts_dir or SCRIPTS_DIR))
        with unit_synthesizer(config) as synthesizer:
            for pace, texts in sorted(by_pace.items()):
                KokoroSpeech(config.speech.cache_dir, synthesizer, pace,
                             recorded=recorded_prompts(config)).render_many(texts)
    except (DualrecError, DriverError, OSError, ValueError) as exc:
        print(f"dualrec script prepare: {exc}", file=sys.stderr)
        return 2
    count = sum(len(t) for t in by_pace.values())
    print(f"{count} fixed prompts ready in {config.speech.cache_dir} "
          f"(voice {config.speech.voice})")
    return 0


def add_speech_parsers(subparsers: Any) -> None:
    s = subparsers.add_parser("speak", help="say TEXT in the unit's voice into a WAV file")
    s.add_argument("text", help="the text (Chinese); - reads it from stdin")
    s.add_argument("--out", required=True, metavar="FILE.wav")
    s.add_argument("--voice", help="a Kokoro voice (default: [speech] voice)")
    s.add_argument("--wpm", type=int, default=300, help="syllables a minute (default 300)")
    s.add_argument("--config", help="configuration file (for the voice and the models)")
    s.set_defaults(func=cmd_speak)
    sc = subparsers.add_parser("script", help="the prompts a ticket would produce")
    sub = sc.add_subparsers(dest="script_command", required=True)
    r = sub.add_parser("render", help="render a template's prompts with a ticket spec's facts")
    r.add_argument("--ticket-spec", required=True, metavar="FILE.json")
    r.add_argument("--template", help="template id (default: the one the ticket selects)")
    r.add_argument("--scripts-dir", help="templates directory (default: the shipped ones)")
    r.add_argument("--json", action="store_true",
                   help='{"template": id, "nodes": [{"id", "title", "prompt"}]}')
    r.set_defaults(func=cmd_script_render)
    pr = sub.add_parser("prepare", help="render every template's fixed prompts into the "
                                        "unit's prompt cache (at install)")
    pr.add_argument("--config", help="configuration file (voice, models, cache, templates)")
    pr.set_defaults(func=cmd_script_prepare)
