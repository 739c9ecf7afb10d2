"""The ``dualrec`` command: demo, run, verify, recover."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from firmware import __version__
from firmware.errors import ConfigError, DualrecError, NotEvidenceError

log = logging.getLogger("dualrec")


def _setup_logging(level: str = "info") -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


def cmd_verify(args: argparse.Namespace) -> int:
    from firmware.evidence.keys import PublicKey
    from firmware.evidence.verify import load_checkpoint_file, verify_path
    try:
        trusted = None
        if args.trusted_key:
            trusted = PublicKey.from_b64(Path(args.trusted_key).read_text().strip())
        witnesses = [w for f in args.checkpoint for w in load_checkpoint_file(f)]
        if args.path.startswith("s3://"):
            from firmware.cli.sync import verify_s3
            return verify_s3(args.path, args.endpoint, args.json, witnesses,
                             trusted_key=trusted, region=args.region)
        fleet_ca = None
        if args.fleet_ca:
            from firmware.evidence.certs import load_fleet_ca
            fleet_ca = load_fleet_ca(args.fleet_ca)
        bucket_check = None
        if args.bucket:
            from firmware.office.bucket.pruned_copies import pruned_copy_check
            from firmware.protocol.bucket.layout import parse_s3_url
            from firmware.unit.sync.s3client import make_client
            from firmware.unit.sync.settings import SyncSettings
            client = make_client(SyncSettings(bucket=parse_s3_url(args.bucket)[0],
                                              endpoint=args.endpoint or "",
                                              region=args.region, max_attempts=3))
            bucket_check = pruned_copy_check(client, args.bucket)
        report = verify_path(args.path, trusted_key=trusted, checkpoints=witnesses,
                             fleet_ca=fleet_ca, bucket_check=bucket_check)
    except (NotEvidenceError, OSError, ValueError) as exc:
        print(f"dualrec verify: unusable input: {exc}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.to_text())
    return 0 if report.ok else 1


def _key_and_clock(args: argparse.Namespace):
    from drivers.clock import SystemClock
    from firmware.config.loading import load_config
    from firmware.evidence.keys import DeviceKey
    config = load_config(args.config)
    key = DeviceKey.load(args.key or config.device.key_file)
    return config, key, SystemClock()


def cmd_recover(args: argparse.Namespace) -> int:
    from firmware.evidence.store import default_device_id
    from firmware.evidence.recovery import recover
    from firmware.evidence.spool import Spool
    try:
        config, key, clock = _key_and_clock(args)
        spool = Spool.open_existing(args.spool)
        device_id = spool.read_device_info().device_id
        if device_id != (config.device.id or default_device_id(key)) and not args.key:
            raise ConfigError(f"{args.spool} belongs to {device_id}; give that unit's --key")
        report = recover(spool, key, clock, device_id=device_id)
    except (DualrecError, OSError) as exc:
        print(f"dualrec recover: {exc}", file=sys.stderr)
        return 2
    if report.changed:
        print(f"recovered {args.spool}: {len(report.sealed_parts)} unsealed files sealed, "
              f"{len(report.adopted)} adopted, {len(report.closed_sessions)} sessions closed, "
              f"{report.torn_bytes} torn ledger bytes set aside; "
              f"{report.records_appended} records appended")
    else:
        print(f"{args.spool}: nothing to recover (last stop was clean)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from firmware.config.loading import load_config
    try:
        config = load_config(args.config)
        if args.simulated:
            from firmware.unit.simulated import prepare_sim_dir, simulated_config
            config = simulated_config(prepare_sim_dir(_sim_dir(args)), config)
    except ConfigError as exc:
        print(f"dualrec: {exc}", file=sys.stderr)
        return 2
    if args.validate_config:
        print(f"{args.config or config.source}: configuration is valid")
        return 0
    if args.simulated:
        print(f"dualrec: simulated unit in {_sim_dir(args)}; drive it with `dualrec press "
              "RECORD --simulated` and `dualrec status --simulated`", file=sys.stderr)
    from firmware.unit.daemon import run_daemon
    return run_daemon(config)


def _sim_dir(args: argparse.Namespace) -> Path:
    from firmware.unit.simulated import default_sim_dir
    return Path(args.sim_dir) if args.sim_dir else default_sim_dir()


def _scenario_names() -> list[str]:
    from firmware.cli.demo_scenarios import SCENARIOS
    return list(SCENARIOS)


def cmd_demo(args: argparse.Namespace) -> int:
    from firmware.cli.demo import run_demo
    from firmware.errors import DualrecError
    _setup_logging("warning" if not args.verbose else "info")
    if args.remote and args.scenario not in (None, "none"):
        print("dualrec demo: --remote runs the counter with buttons only (the remote party's "
              "answers are not understood yet): leave out --scenario", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else None
    spec = Path(args.ticket_spec) if args.ticket_spec else None
    scenario = args.scenario or "happy"
    try:
        if args.remote:
            from firmware.cli.demo_remote import run_remote_demo
            return run_remote_demo(out, spec, party=args.remote_party, as_json=args.json)
        return run_demo(out, spec, scenario=None if scenario == "none" else scenario,
                        as_json=args.json)
    except DualrecError as exc:
        print(f"dualrec demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dualrec demo: interrupted; what the demo started has been stopped",
              file=sys.stderr)
        return 130


def _control(args: argparse.Namespace, req: dict) -> int:
    from firmware.config.loading import load_config
    from firmware.unit.control import request
    try:
        if args.socket:
            path = args.socket
        elif args.simulated:
            path = str(_sim_dir(args).absolute() / "control.sock")
        else:
            path = load_config(args.config).control.socket
        answer = request(path, req)
    except (ConnectionError, OSError, ConfigError) as exc:
        print(f"dualrec: {exc}", file=sys.stderr)
        return 2
    if not answer.get("ok"):
        print(f"dualrec: {answer.get('error')}", file=sys.stderr)
        return 1
    answer.pop("ok")
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


def cmd_press(args: argparse.Namespace) -> int:
    req = {"cmd": "hold" if args.hold else "press", "button": args.button}
    if args.hold:
        req["seconds"] = args.hold
    return _control(args, req)


def cmd_bind(args: argparse.Namespace) -> int:
    if bool(args.people) == bool(args.ticket):
        print("dualrec bind: give a people.json or --ticket (one of them)", file=sys.stderr)
        return 2
    try:
        if args.ticket:
            from firmware.ticket.qr import read_ticket_source
            text = read_ticket_source(args.ticket)
            if text is None:
                print(f"dualrec bind: {args.ticket}: no ticket QR code could be read",
                      file=sys.stderr)
                return 2
            req = {"cmd": "bind", "ticket": text}
        else:
            req = {"cmd": "bind", "people": Path(args.people).read_text(encoding="utf-8")}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"dualrec bind: {exc}", file=sys.stderr)
        return 2
    if args.template:
        req["template"] = args.template
    if args.mode:
        req["mode"] = args.mode
    return _control(args, req)


def cmd_damage(args: argparse.Namespace) -> int:
    return _control(args, {"cmd": "ack-damage", "by": args.by})


def cmd_status(args: argparse.Namespace) -> int:
    return _control(args, {"cmd": "status"})


def cmd_sim(args: argparse.Namespace) -> int:
    req = {"cmd": "sim", "device": args.device, "action": args.action}
    for item in args.param:
        key, _, value = item.partition("=")
        req[key] = int(value) if value.isdigit() else value
    return _control(args, req)


def _add_control_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--socket", help="the daemon's control socket (default: from --config)")
    p.add_argument("--config", help="configuration file (for the control socket path)")
    _add_simulated_args(p)


def _add_simulated_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--simulated", action="store_true",
                   help="the simulated unit of `dualrec run --simulated`")
    p.add_argument("--sim-dir", metavar="DIR",
                   help="its directory (default: $XDG_STATE_HOME/dualrec-sim)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dualrec", description="双录 counter recording appliance")
    p.add_argument("--version", action="version", version=f"dualrec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="a complete session on simulated hardware, verified")
    d.add_argument("--out", help="where to keep the spool (default: a temporary directory)")
    d.add_argument("--ticket-spec", metavar="FILE.json",
                   help="the sale (docs/ticket.md): issued as a ticket with a development "
                        "sales key and shown to the simulated camera (default: a sample)")
    d.add_argument("--scenario", default=None, choices=_scenario_names() + ["none"],
                   help="what the people at the counter do (default: happy); 'none': "
                        "buttons only, answers checked as a sound")
    d.add_argument("--remote", action="store_true",
                   help="the policyholder is remote: a broker, the relay dualrec-meet and the "
                        "party's browser on loopback; the SMS's code and link; the party's "
                        "call recorded on the chain (docs/meet.md)")
    d.add_argument("--remote-party", choices=("auto", "chromium", "aiortc"), default="auto",
                   help="with --remote: who the remote party is (default auto: headless "
                        "Chromium when it, Playwright and the join page's call and signing "
                        "box are there, else an aiortc peer)")
    d.add_argument("--json", action="store_true",
                   help="print the outcome as JSON: verdict, findings, refusals, answers")
    d.add_argument("-v", "--verbose", action="store_true")
    d.set_defaults(func=cmd_demo)

    r = sub.add_parser("run", help="the appliance daemon (systemd Type=notify)")
    r.add_argument("--config", help="configuration file (TOML)")
    r.add_argument("--validate-config", action="store_true",
                   help="check the configuration, print every problem, exit 0 if valid")
    _add_simulated_args(r)
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("verify", help="check a spool, a session or s3://BUCKET/PREFIX: 0 "
                       "intact, 1 findings, 2 unusable input")
    v.add_argument("path")
    v.add_argument("--json", action="store_true", help="a machine-readable report")
    v.add_argument("--checkpoint", action="append", default=[], metavar="FILE",
                   help="a published checkpoint the chain must still contain (repeatable)")
    v.add_argument("--trusted-key", metavar="FILE",
                   help="the device's public key (base64), instead of the spool's own copy")
    v.add_argument("--fleet-ca", metavar="FILE",
                   help="the fleet's root CA (PEM): the device certificate must chain to it")
    v.add_argument("--bucket", metavar="s3://BUCKET/PREFIX",
                   help="check the cloud copies of pruned files there (with --endpoint)")
    from firmware.cli.sync import add_sync_parser, add_verify_s3_arguments
    add_verify_s3_arguments(v)
    v.set_defaults(func=cmd_verify)

    c = sub.add_parser("recover", help="seal what a power cut left open")
    c.add_argument("spool")
    c.add_argument("--config", help="configuration file (for the device key)")
    c.add_argument("--key", help="the device key file (default: from the configuration)")
    c.set_defaults(func=cmd_recover)

    pr = sub.add_parser("press", help="press a panel button of a running daemon (simulated "
                        "hardware)")
    pr.add_argument("button", type=str.upper, choices=["RECORD", "NEXT", "REPLAY"])
    pr.add_argument("--hold", type=float, metavar="SECONDS",
                    help="hold the button this long (hold RECORD ~2 s to stop a session)")
    _add_control_args(pr)
    pr.set_defaults(func=cmd_press)

    bd = sub.add_parser("bind", help="bind the next session of a running daemon to its people "
                        "and policy (a people.json; a policyholder of 60+ selects the elder "
                        "script)")
    bd.add_argument("people", nargs="?", help="people.json (docs/people.md)")
    bd.add_argument("--ticket", metavar="QR.png|TICKET",
                    help="the sale's signed ticket: its QR image, or a file with its text")
    bd.add_argument("--template", help="script template id (default: the configured one)")
    bd.add_argument("--mode", choices=["av", "audio_photo"])
    _add_control_args(bd)
    bd.set_defaults(func=cmd_bind)

    st = sub.add_parser("status", help="the running daemon's state, session and devices")
    _add_control_args(st)
    st.set_defaults(func=cmd_status)

    dm = sub.add_parser("damage", help="acknowledge evidence damage the unit recorded (it "
                        "refuses to record until someone has): `dualrec damage ack`")
    dm.add_argument("action", choices=["ack"])
    dm.add_argument("--by", default="local technician", help="who acknowledges (on the chain)")
    _add_control_args(dm)
    dm.set_defaults(func=cmd_damage)

    sm = sub.add_parser("sim", help="simulated hardware controls of a running daemon")
    sm.add_argument("device", choices=["camera", "microphone", "sigpad"])
    sm.add_argument("action", help="camera: unplug|replug|scene|drop; microphone: "
                    "unplug|replug|source; sigpad: sign|unplug|replug")
    sm.add_argument("param", nargs="*", metavar="KEY=VALUE",
                    help="e.g. scene=dark, frames=5, source=silence")
    _add_control_args(sm)
    sm.set_defaults(func=cmd_sim)

    add_sync_parser(sub)
    from firmware.cli.export import add_export_parser
    from firmware.cli.people import add_people_parsers
    add_export_parser(sub)
    add_people_parsers(sub)
    from firmware.cli.hwcheck import add_hwcheck_parser
    add_hwcheck_parser(sub)
    from firmware.cli.config import add_config_parser
    add_config_parser(sub)
    from firmware.cli.speech import add_speech_parsers
    from firmware.cli.ticket import add_ticket_parser
    add_speech_parsers(sub)
    add_ticket_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
