"""``dualrec hwcheck``: the command line of the hardware check (firmware.unit.hwcheck)."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any


from firmware.unit.hwcheck.checks import CHECKS, SimulatedTechnician, Technician
from firmware.unit.hwcheck.rig import Rig, format_results, run_checks


def cmd_hwcheck(args: argparse.Namespace) -> int:
    from firmware.config.loading import load_config
    from firmware.unit.control import request
    from firmware.errors import ConfigError
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"dualrec hwcheck: {exc}", file=sys.stderr)
        return 2
    sim = config.drivers.backend == "sim"
    if args.simulate_input and not sim:
        print("dualrec hwcheck: --simulate-input needs simulated hardware ([drivers] backend "
              "= \"sim\"); at a real unit a person presses the buttons", file=sys.stderr)
        return 2
    if config.control.socket:
        try:
            request(config.control.socket, {"cmd": "status"}, timeout=5)
        except (ConnectionError, OSError, ValueError):
            pass
        else:
            print("dualrec hwcheck: the appliance is running and holds the devices; stop it "
                  "first (sudo systemctl stop dualrec) and start it again afterwards",
                  file=sys.stderr)
            return 2
    out = sys.stderr if args.json else sys.stdout
    rig = Rig(config, Path(args.snapshot) if args.snapshot else None)
    who = (SimulatedTechnician(out, rig.signature) if args.simulate_input
           else Technician(out, ask=not args.no_ask and sys.stdin.isatty()))
    print(f"dualrec hwcheck: {config.source or args.config or 'defaults'}, "
          f"{'simulated' if sim else 'real'} hardware", file=out, flush=True)
    results = run_checks(rig, who, skip=set(args.skip), timeout=args.timeout)
    if args.json:
        print(json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=2))
    else:
        print("\nRESULT\n" + format_results(results), flush=True)
    return 1 if any(r.status == "fail" for r in results) else 0


def add_hwcheck_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``dualrec hwcheck``: hooked into firmware/cli.py's subcommands."""
    h = subparsers.add_parser(
        "hwcheck", help="hardware self-check at the branch: camera, microphone, speaker, "
        "buttons, LEDs, signature pad, clock, disk, spool (stop the appliance first)")
    h.add_argument("--config", help="configuration file (TOML), e.g. /etc/dualrec/dualrec.toml")
    h.add_argument("--skip", action="append", default=[], choices=CHECKS, metavar="CHECK",
                   help=f"leave out a check (repeatable): {', '.join(CHECKS)}")
    h.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long to wait for each button press and the pen (default 30)")
    h.add_argument("--no-ask", action="store_true",
                   help="ask no questions (LEDs and buzzer are then not confirmed, the speaker "
                   "is judged by the microphone alone)")
    h.add_argument("--simulate-input", action="store_true",
                   help="simulated hardware only: press the buttons, sign the pad and watch "
                   "the LEDs automatically (for tests)")
    h.add_argument("--snapshot", metavar="FILE.jpg",
                   help="save a still of what the camera sees, to aim it at the counter")
    h.add_argument("--json", action="store_true", help="the results as JSON on stdout")
    h.set_defaults(func=cmd_hwcheck)
    return h


def main(argv: list[str] | None = None) -> int:
    """``python -m firmware.cli.hwcheck ARGS``: the same as ``dualrec hwcheck ARGS``."""
    parser = argparse.ArgumentParser(prog="dualrec")
    add_hwcheck_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["hwcheck", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
