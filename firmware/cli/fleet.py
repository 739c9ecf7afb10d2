"""``dualrec-fleet``: the operators' view of the fleet over MQTT.

    dualrec-fleet --broker mqtts://broker:8884 --cert ops.crt --key ops.key --ca fleet-ca.crt \\
        devices [--json] [--branch B]
    dualrec-fleet ... watch [--device D] [--check] [--save-witnesses DIR] [--duration S] [--json]
    dualrec-fleet ... cmd DEVICE NAME [KEY=VALUE ...]      one unit
    dualrec-fleet ... cmd --branch B NAME [KEY=VALUE ...]  every online unit of a branch
    dualrec-fleet ... witness SPOOL [--dir DIR] [--json]   published checkpoints vs a spool

Exit status: 0 done (every unit answered ok; witnesses consistent); 1 a unit answered with an
error or not at all, or the witnesses show a rollback or rewrite; 2 unusable input (broker
unreachable, bad arguments, no such spool). docs/mqtt.md describes topics and payloads.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from firmware import __version__
from firmware.errors import DualrecError, NotEvidenceError
from firmware.protocol.mqtt import topics
from firmware.unit.fleet.commands import SPECS
from firmware.protocol.mqtt.broker import URL_ENV


def _client(args: argparse.Namespace):
    from firmware.office.fleet.operator import OperatorClient
    if not args.broker:
        raise DualrecError(f"no broker: give --broker URL or set {URL_ENV}")
    return OperatorClient(args.broker, cert=args.cert or "", key=args.key or "",
                          ca_file=args.ca or "", username=args.username,
                          timeout=args.timeout)


def _device_rows(client):
    from firmware.office.fleet.fleet_view import rows_from_retained
    messages, complete = client.retained([topics.all_devices(topics.STATE),
                                          topics.all_devices(topics.TELEMETRY)])
    if not complete:
        print("dualrec-fleet: warning: the broker did not confirm the end of the retained "
              "messages; the list may be incomplete", file=sys.stderr)
    return rows_from_retained(messages)


def cmd_devices(args: argparse.Namespace) -> int:
    from firmware.office.fleet.fleet_view import format_table
    with _client(args) as client:
        rows = _device_rows(client)
    if args.branch:
        rows = [r for r in rows if r.branch == args.branch]
    if args.json:
        print(json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=1))
    else:
        print(format_table(rows, time.time()))
    return 0


def _arg_value(text: str) -> Any:
    if text.startswith("@"):
        path = Path(text[1:])
        data = path.read_bytes()
        return tomllib.loads(data.decode()) if path.suffix == ".toml" else json.loads(data)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse_args(words: list[str]) -> dict[str, Any]:
    out = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise DualrecError(f"argument {word!r} is not KEY=VALUE")
        out[key] = _arg_value(value)
    return out


def cmd_cmd(args: argparse.Namespace) -> int:
    words = list(args.words)
    if not args.branch:
        if len(words) < 2:
            raise DualrecError("give DEVICE NAME [KEY=VALUE ...] or --branch B NAME ...")
        target = topics.check_device_id(words.pop(0))
    name = words.pop(0)
    if name not in SPECS:
        raise DualrecError(f"unknown command {name!r}; known: {', '.join(SPECS)}")
    cmd_args = _parse_args(words)
    skipped: dict[str, str] = {}
    with _client(args) as client:
        if args.branch:
            rows = [r for r in _device_rows(client) if r.branch == args.branch]
            if not rows:
                raise DualrecError(f"no units of branch {args.branch!r} on the broker")
            devices = [r.device for r in rows if r.state != "offline"]
            skipped = {r.device: "offline, not sent" for r in rows if r.state == "offline"}
        else:
            devices = [target]
        answers = client.request(devices, name, cmd_args, cmd_id=args.id,
                                 timeout=args.wait) if devices else {}
    if args.json:
        print(json.dumps({**answers, **{d: None for d in skipped}}, ensure_ascii=False,
                         indent=1))
    else:
        for device, answer in sorted(answers.items()):
            print(f"{device}  {_describe(answer, args.wait)}")
        for device, why in sorted(skipped.items()):
            print(f"{device}  {why}")
    return 0 if answers and all(a and a.get("ok") for a in answers.values()) else 1


def _describe(answer: dict | None, wait: float) -> str:
    if answer is None:
        return f"no answer within {wait:g} s"
    repeat = " (answered again, not run again)" if answer.get("repeat") else ""
    result = answer.get("result")
    if answer.get("ok") and isinstance(result, dict) and isinstance(result.get("text"), str):
        text = result["text"]   # fetch-logs: the lines themselves
        meta = json.dumps({k: v for k, v in result.items() if k != "text"}, ensure_ascii=False)
        return f"ok{repeat}  {meta}\n" + "".join(f"    {line}\n" for line in text.splitlines())
    if answer.get("ok"):
        return f"ok{repeat}  {json.dumps(result, ensure_ascii=False)}"
    error = answer.get("error") or {}
    return f"ERROR {error.get('code')}{repeat}: {error.get('message')}"


def _contract(args: argparse.Namespace):
    """The contract ``watch --check`` holds the units to (``--contract``, else the one in the
    source tree)."""
    from firmware.protocol.mqtt.contract import CONTRACT_PATH, Contract
    path = Path(args.contract) if args.contract else CONTRACT_PATH
    if not path.is_file():
        raise DualrecError(f"no contract at {path}: give --contract "
                           "docs/asyncapi/dualrec-mqtt-v1.yaml")
    contract = Contract.load(path)
    return contract.closed() if args.strict else contract


def cmd_watch(args: argparse.Namespace) -> int:
    from firmware.office.fleet.witness import save_witness
    device = topics.check_device_id(args.device) if args.device else "+"
    leaves = (topics.STATE, topics.EVENTS, topics.CHECKPOINTS)
    if args.check:
        leaves += (topics.TELEMETRY, topics.CHECKPOINT, topics.CONFIG_REPORTED,
                   f"{topics.RESPONSES}/#", topics.RESPONSES)
    filters = [f"{topics.DEVICES}/{device}/{leaf}" for leaf in leaves]
    contract = _contract(args) if args.check else None
    seen = 0
    broken = 0

    def show(msg) -> bool:
        nonlocal seen, broken
        if contract is not None and msg.payload:
            problems = contract.problems(msg.topic, msg.payload)
            broken += bool(problems)
            for problem in problems:
                print(f"CONTRACT {problem}", flush=True)
        where = topics.split_device_topic(msg.topic)
        try:
            payload = json.loads(msg.payload) if msg.payload else {}
        except ValueError:
            payload = {"unreadable": msg.payload[:80].decode("utf-8", "replace")}
        if where is None or not isinstance(payload, dict):
            return True
        if where[1] == topics.CHECKPOINTS and args.save_witnesses:
            try:
                save_witness(args.save_witnesses, payload)
            except (DualrecError, ValueError, KeyError, OSError) as exc:
                print(f"dualrec-fleet: witness from {where[0]} not saved: {exc}", file=sys.stderr)
        if args.json:
            print(json.dumps({"topic": msg.topic, "retained": msg.retain, "payload": payload},
                             ensure_ascii=False), flush=True)
        else:
            print(_watch_line(where[0], where[1], payload, msg.retain), flush=True)
        seen += 1
        return not (args.count and seen >= args.count)

    with _client(args) as client:
        try:
            client.follow(filters, show, duration=args.duration)
        except KeyboardInterrupt:
            pass
    if broken:
        print(f"dualrec-fleet watch: {broken} message(s) broke the contract", file=sys.stderr)
    return 1 if broken else 0


def _watch_line(device: str, leaf: str, p: dict, retained: bool) -> str:
    ts = p.get("ts") or "-"
    mark = " (retained)" if retained else ""
    if leaf == topics.STATE:
        return f"{ts}  {device}  state {p.get('state')} {p.get('detail') or ''}{mark}".rstrip()
    if leaf in (topics.CHECKPOINTS, topics.CHECKPOINT):
        return f"{ts}  {device}  checkpoint seq {p.get('seq')} {str(p.get('hash'))[:16]}{mark}"
    if leaf != topics.EVENTS:
        return f"{ts}  {device}  {leaf}{mark}"
    data = json.dumps(p.get("data"), ensure_ascii=False)
    return f"{ts}  {device}  event {p.get('kind')} {data}{mark}"


def cmd_witness(args: argparse.Namespace) -> int:
    from firmware.office.fleet.witness import check_spool, load_witnesses
    from firmware.evidence.spool import Spool
    device = Spool.open_existing(args.spool).read_device_info().device_id
    if args.dir:
        witnesses = load_witnesses(args.dir, device)
    else:
        with _client(args) as client:
            messages, _ = client.retained([topics.device_topic(device, topics.CHECKPOINT)])
        witnesses = [json.loads(m.payload) for m in messages if m.payload]
    if not witnesses:
        print(f"dualrec-fleet witness: no published checkpoints of {device} found",
              file=sys.stderr)
        return 2
    result = check_spool(args.spool, witnesses)
    print(result.to_json() if args.json else result.to_text())
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dualrec-fleet", description="dualrec fleet operations "
                                "over MQTT (docs/mqtt.md)")
    p.add_argument("--version", action="version", version=f"dualrec-fleet {__version__}")
    p.add_argument("--broker", default=os.environ.get(URL_ENV, ""),
                   help=f"mqtts://host:8884 (operators' listener); default ${URL_ENV}")
    p.add_argument("--cert", help="the operator's client certificate (PEM; its CN is the "
                   "username)")
    p.add_argument("--key", help="its private key (PEM)")
    p.add_argument("--ca", help="the CA that issued the broker's certificate")
    p.add_argument("--username", help="username on a plain mqtt:// development broker")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for the broker (default 10)")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("devices", help="every unit's state, telemetry and flags")
    d.add_argument("--json", action="store_true")
    d.add_argument("--branch", help="only this branch")
    d.set_defaults(func=cmd_devices)

    w = sub.add_parser("watch", help="follow state changes, events and checkpoints")
    w.add_argument("--device", help="only this unit")
    w.add_argument("--json", action="store_true", help="one JSON object per line")
    w.add_argument("--save-witnesses", metavar="DIR",
                   help="keep every published checkpoint as DIR/<device>/<seq>.json")
    w.add_argument("--duration", type=float, help="stop after this many seconds")
    w.add_argument("--count", type=int, help="stop after this many messages")
    w.add_argument("--check", action="store_true", help="check every message a unit "
                   "publishes against the contract (also telemetry, config/reported, "
                   "responses); exit 1 if any broke it")
    w.add_argument("--strict", action="store_true", help="with --check: fields the contract "
                   "does not describe break it too (as the unit's own tests hold it)")
    w.add_argument("--contract", metavar="FILE", help="the contract (default: "
                   "docs/asyncapi/dualrec-mqtt-v1.yaml of this source tree)")
    w.set_defaults(func=cmd_watch)

    c = sub.add_parser("cmd", help="send a command: DEVICE NAME [KEY=VALUE ...], or "
                       "--branch B NAME [KEY=VALUE ...]",
                       description="Commands: " + ", ".join(SPECS) + ". A VALUE is JSON "
                       "(true, 30, {...}) or a string; @FILE reads JSON or TOML.")
    c.add_argument("--branch", help="every online unit of this branch")
    c.add_argument("--id", help="the command id (default: a new one); sending the same id "
                   "again is answered from the unit's cache, not run again")
    c.add_argument("--wait", type=float, default=30.0,
                   help="seconds to wait for answers (default 30)")
    c.add_argument("--json", action="store_true")
    c.add_argument("words", nargs="+", metavar="[DEVICE] NAME [KEY=VALUE]")
    c.set_defaults(func=cmd_cmd)

    t = sub.add_parser("witness", help="compare published checkpoints with a unit's spool")
    t.add_argument("spool", help="the unit's spool (or a copy of it)")
    t.add_argument("--dir", help="witnesses saved by `watch --save-witnesses` (default: the "
                   "latest checkpoint retained on the broker)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_witness)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DualrecError, NotEvidenceError, ValueError, OSError) as exc:
        print(f"dualrec-fleet {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
