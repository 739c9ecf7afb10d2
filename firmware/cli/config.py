"""``dualrec config tiers|show|apply-bundle``: who may change which setting, the configuration
the unit starts with and where each value comes from, and a signed configuration bundle
applied at the unit itself (the same checks as over MQTT; it takes effect at the next start).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import textwrap
from dataclasses import fields
from pathlib import Path
from typing import Any

from firmware.config.loading import load_config
from firmware.config.bundle import MAX_BUNDLE_BYTES, ConfigBundleError
from firmware.config.model import Config, section_names
from firmware.unit.config_record import config_values
from firmware.evidence.durable import read_regular
from firmware.errors import DualrecError
from firmware.unit.remote_config import APPLIES, Layers, RemoteConfig

TIER_MEANING = {"operational": "an operator's set-config (MQTT)",
                "signed": "only a configuration bundle signed by the back office",
                "local": "never remotely: the unit's own file"}


def tier_table() -> list[dict[str, str]]:
    """Every setting with its tier and default, in the model's order."""
    rows = []
    for section in section_names():
        for f in fields(type(getattr(Config(), section))):
            rows.append({"key": f"{section}.{f.name}", "tier": f.metadata.get("tier", "local"),
                         "default": json.dumps(f.default, ensure_ascii=False)})
    return rows


def value_sources(remote: RemoteConfig, layers: Layers) -> dict[str, str]:
    """For each ``section.key``: ``file``, ``bundle serial N`` or ``set-config version N``."""
    base = config_values(remote.base)
    bundled = config_values(remote.compose(Layers(bundle=layers.bundle)))
    full = config_values(remote.compose(layers))
    out = {}
    for key, value in full.items():
        if value != bundled[key]:
            out[key] = f"set-config version {layers.operational_version}"
        elif value != base[key]:
            out[key] = f"bundle serial {layers.bundle.serial}"
        else:
            out[key] = "file"
    return out


def cmd_tiers(args: argparse.Namespace) -> int:
    rows = tier_table()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for tier, meaning in TIER_MEANING.items():
        print(f"{tier}: {meaning}")
        print(textwrap.fill(", ".join(r["key"] for r in rows if r["tier"] == tier), width=96,
                            initial_indent="  ", subsequent_indent="  "))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    try:
        remote = RemoteConfig.for_unit(load_config(args.config))
        layers = remote.layers()
        effective = remote.compose(layers)
        sources = value_sources(remote, layers)
    except (DualrecError, OSError) as exc:
        print(f"dualrec config show: {exc}", file=sys.stderr)
        return 2
    values = config_values(effective)
    tiers = {r["key"]: r["tier"] for r in tier_table()}
    if args.json:
        print(json.dumps({"settings": [{"key": k, "value": v, "tier": tiers[k],
                                        "from": sources[k]} for k, v in values.items()],
                          "set_config_version": layers.operational_version,
                          "bundle_serial": layers.bundle.serial if layers.bundle else 0,
                          "refused": list(layers.refused)}, indent=2, ensure_ascii=False))
    else:
        print(f"the configuration of the next start "
              f"({effective.origin.describe(remote.base.source)})")
        for key, value in values.items():
            shown = value if len(value) <= 60 else value[:57] + "..."
            print(f"  {key} = {shown}  [{tiers[key]}; from {sources[key]}]")
        for why in layers.refused:
            print(f"REFUSED {why}")
    return 1 if layers.refused else 0


def _owner_problem(spool: str) -> str | None:
    """Run as root, the files written would be root's and the service could not read them."""
    if os.geteuid() != 0:
        return None
    try:
        owner = os.stat(spool).st_uid
    except OSError as exc:
        return f"no spool at {spool} ({exc.strerror or exc})"
    if owner != 0:
        return (f"the spool {spool} belongs to uid {owner}: run this as that user "
                "(sudo -u dualrec dualrec config apply-bundle ...)")
    return None


def cmd_apply_bundle(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        problem = _owner_problem(config.spool.path)
        if problem:
            raise DualrecError(problem)
        raw = read_regular(args.bundle, MAX_BUNDLE_BYTES)
        remote = RemoteConfig.for_unit(config)
        running = remote.compose(remote.layers())
    except (DualrecError, OSError, ValueError) as exc:
        print(f"dualrec config apply-bundle: {exc}", file=sys.stderr)
        return 2
    try:
        bundle = remote.accept_bundle(raw, now=dt.datetime.now(dt.timezone.utc), running=running,
                                      documents_from=Path(args.documents) if args.documents
                                      else None)
    except ConfigBundleError as exc:
        print(f"REFUSED {exc}")
        return 1
    except (DualrecError, OSError) as exc:
        print(f"dualrec config apply-bundle: {exc}", file=sys.stderr)
        return 2
    changed = sorted(f"{s}.{k}" for s, values in bundle.config.items() for k in values)
    documents = "" if bundle.documents is None else \
        f"; {len(bundle.documents)} documents in the library {running.display.documents}"
    print(f"bundle serial {bundle.serial} accepted ({len(changed)} settings: "
          f"{', '.join(changed) or 'none'}{documents}); it takes effect {APPLIES}: "
          "sudo systemctl restart dualrec")
    return 0


def add_config_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``config tiers|show|apply-bundle`` to ``dualrec``'s subparsers."""
    config = subparsers.add_parser("config", help="remote configuration: tiers, the effective "
                                   "configuration, signed bundles applied locally")
    sub = config.add_subparsers(dest="config_command", required=True)
    t = sub.add_parser("tiers", help="who may change each setting (operational, signed, local)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_tiers)
    s = sub.add_parser("show", help="the configuration the next start uses, each value with "
                       "its tier and where it comes from: 0 ok, 1 remote state refused")
    s.add_argument("--config", help="the unit's configuration file")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)
    a = sub.add_parser("apply-bundle", help="check a configuration bundle signed by the back "
                       "office and keep it for the next start: 0 accepted, 1 refused, 2 unusable")
    a.add_argument("bundle", help="the signed bundle (dualrec-provision config sign)")
    a.add_argument("--config", help="the unit's configuration file")
    a.add_argument("--documents", metavar="DIR", help="the directory holding the PDFs of the "
                   "documents the bundle signs (each checked by its SHA-256 before it enters "
                   "[display] documents); not needed for those the library holds already")
    a.set_defaults(func=cmd_apply_bundle)
    return config
