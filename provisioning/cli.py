"""``dualrec-provision``: the fleet CA, enrolling units, rotating their evidence key, and the
back office's signed staff roster (docs/provisioning.md, docs/people.md).

Exit codes: 0 done (or: the check passed); 1 a check refused a certificate; 2 unusable input
or a step that could not be done (the message says which and what to do).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from firmware.evidence.certs import CertificateError, CertificateFormatError
from firmware.errors import DualrecError
from provisioning import unit_config
from provisioning.ca import CA_CERT, CA_KEY, FLEET_CA, FleetCA, key_pem, new_tls_key
from provisioning.enroll import UnitSettings, enroll_device
from provisioning.errors import ProvisioningError
from provisioning.files import SERVICE_USER, write_file, write_private
from provisioning.config_bundle import add_config_parser
from provisioning.operators import add_operator_parser
from provisioning.roster import add_roster_parser
from provisioning.rotation import rotate_evidence_key
from provisioning.ticket import generate_sales_key, issue_files
from provisioning.unit_check import UnitFiles, check_unit

FAILURES = (DualrecError, OSError)


def _fail(command: str, exc: BaseException) -> int:
    print(f"dualrec-provision {command}: {exc}", file=sys.stderr)
    return 2


# -- ca ----------------------------------------------------------------------------------------
def cmd_ca_init(args: argparse.Namespace) -> int:
    try:
        ca = FleetCA.create_root(args.name, org=args.org, days=args.days)
        ca.save(args.out)
    except FAILURES as exc:
        return _fail("ca init", exc)
    out = Path(args.out)
    print(f"fleet CA {args.name!r} in {out}: {CA_KEY} (mode 0600: keep it offline), "
          f"{CA_CERT}, {FLEET_CA} (give this one to the broker, the units and the auditors); "
          f"valid until {ca.cert.not_valid_after_utc:%Y-%m-%d}")
    return 0


def cmd_ca_issuing(args: argparse.Namespace) -> int:
    try:
        issuing = FleetCA.load(args.ca).create_issuing(args.name, org=args.org, days=args.days)
        issuing.save(args.out)
    except FAILURES as exc:
        return _fail("ca issuing", exc)
    print(f"issuing CA {args.name!r} in {args.out}, signed by {args.ca}; valid until "
          f"{issuing.cert.not_valid_after_utc:%Y-%m-%d}. Enrol units with --ca {args.out} and "
          f"put {args.ca} (the root key) back offline")
    return 0


def cmd_ca_server_cert(args: argparse.Namespace) -> int:
    try:
        ca = FleetCA.load(args.ca)
        key = new_tls_key()
        cert = ca.issue_server(key.public_key(), args.host, days=args.days)
        out = Path(args.out)
        write_private(out / "server.key", key_pem(key), overwrite=args.force)
        write_file(out / "server.crt", ca.chain_pem(cert))
        write_file(out / FLEET_CA, ca.fleet_ca_pem)
    except FAILURES as exc:
        return _fail("ca server-cert", exc)
    print(f"broker certificate for {', '.join(args.host)} in {out}: server.crt, server.key "
          f"(0600), {FLEET_CA} (the broker's cafile for the units' listener)")
    return 0


# -- device ------------------------------------------------------------------------------------
def cmd_enroll(args: argparse.Namespace) -> int:
    settings = UnitSettings(broker=args.broker, bucket=args.bucket, endpoint=args.endpoint,
                            org=args.org, channel=args.channel, outlet=args.outlet)
    try:
        result = enroll_device(FleetCA.load(args.ca), args.device_id, args.out,
                               settings=settings, config=args.config,
                               unit_key_dir=args.unit_dir, days=args.days, owner=args.owner)
    except FAILURES as exc:
        return _fail("device enroll", exc)
    ev, tls = result.evidence, result.tls
    print(f"enrolled {result.device_id} in {result.key_dir}"
          + (f" (kept existing {', '.join(result.reused_keys)})" if result.reused_keys else ""))
    print(f"  evidence key {ev.evidence_key.fingerprint if ev.evidence_key else '?'}: "
          f"certificate serial {ev.serial}, valid until {ev.not_after:%Y-%m-%d}")
    print(f"  TLS (MQTT username {result.device_id}): certificate serial {tls.serial}, valid "
          f"until {tls.not_after:%Y-%m-%d}")
    for name, path in result.files.items():
        print(f"  {name:13} {path}")
    if result.config:
        print(f"  configuration {result.config}")
    return 0


def _rotation_inputs(args: argparse.Namespace) -> dict[str, Any]:
    if args.config:
        if not Path(args.config).exists():
            raise ProvisioningError(f"{args.config}: no such configuration file")
        cfg = unit_config.read_toml(args.config)
        get = lambda section, key: unit_config.setting(cfg, section, key)  # noqa: E731
        return {"spool": args.spool or get("spool", "path"),
                "key": args.key or get("device", "key_file"),
                "certificate": args.certificate or get("device", "certificate"),
                "socket": get("control", "socket"),
                "checkpoint_every": int(get("spool", "checkpoint_every") or 100),
                "device_id": get("device", "id")}
    if not (args.key and args.spool):
        raise ProvisioningError("give --config FILE, or both --key FILE and --spool DIR")
    return {"spool": args.spool, "key": args.key, "certificate": args.certificate,
            "socket": args.socket or "", "checkpoint_every": 100, "device_id": None}


def cmd_rotate_key(args: argparse.Namespace) -> int:
    try:
        given = _rotation_inputs(args)
        ca = FleetCA.load(args.ca) if args.ca else None
        done = rotate_evidence_key(given["spool"], given["key"], ca=ca,
                                   certificate=given["certificate"] or None, days=args.days,
                                   checkpoint_every=given["checkpoint_every"],
                                   control_socket=given["socket"], owner=args.owner)
        if args.config and given["device_id"] != done.device_id:
            # the default id derives from the key: pin it, or the unit would disown its spool
            unit_config.set_values(args.config, {"device": {"id": done.device_id}})
    except FAILURES as exc:
        return _fail("device rotate-key", exc)
    what = ("finished an interrupted rotation" if done.resumed
            else f"KEY record {done.key_record_seq}")
    print(f"{done.device_id}: evidence key {done.old_fingerprint} -> {done.new_fingerprint} "
          f"({what}); new key in {done.key_file}")
    if done.certificate:
        print(f"  new evidence certificate: {done.certificate} (also in device/device.json)")
    else:
        print("  no --ca given: the old evidence certificate stays; re-issue one with --ca")
    if not args.config:
        print(f"  make sure the unit's configuration sets [device] id = \"{done.device_id}\"")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    try:
        if args.config:
            cfg = unit_config.read_toml(args.config)
            get = lambda section, key: str(unit_config.setting(cfg, section, key))  # noqa: E731
            files = UnitFiles(get("device", "id"), get("device", "fleet_ca"),
                              get("device", "key_file"), get("device", "certificate"),
                              get("mqtt", "client_cert"), get("mqtt", "client_key"))
        else:
            files = UnitFiles(args.device_id or "", args.fleet_ca or "", args.key or "",
                              args.certificate or "", args.tls_cert or "", args.tls_key or "")
        results = check_unit(files)
    except CertificateFormatError as exc:
        return _fail("device check", exc)
    except CertificateError as exc:
        print(f"REFUSED ({exc.reason}): {exc}")
        return 1
    except FAILURES as exc:
        return _fail("device check", exc)
    for r in results:
        print(f"OK {r.purpose} certificate of {r.device_id}: serial {r.serial}, issued by "
              f"{r.issuer}, valid until {r.not_after:%Y-%m-%d}")
    return 0


# -- ticket ------------------------------------------------------------------------------------
def cmd_ticket_keygen(args: argparse.Namespace) -> int:
    try:
        made = generate_sales_key(args.out)
    except FAILURES as exc:
        return _fail("ticket keygen", exc)
    print(f"sales-system key in {args.out}: {made.private_path.name} (mode 0600: keep it in "
          f"the sales system, off the units), {made.public_path.name}")
    print(f"public key (for the units' configuration): {made.key.public.b64}")
    print(f"fingerprint: {made.key.public.fingerprint}")
    return 0


def cmd_ticket_issue(args: argparse.Namespace) -> int:
    from firmware.ticket.qr import qr_version
    try:
        issued = issue_files(args.spec, args.key, args.qr, args.out)
    except FAILURES as exc:
        return _fail("ticket issue", exc)
    t = issued.ticket
    print(f"ticket {t.ticket_id} for application {t.application_hash} (hash), expires "
          f"{t.expires.isoformat()}: {issued.qr_path} ({len(issued.text)} characters, QR "
          f"version {qr_version(issued.text)} at level M)"
          + (f", text in {issued.text_path}" if issued.text_path else ""))
    return 0


def _add_ticket(sub: Any) -> None:
    ticket = sub.add_parser("ticket", help="双录 tickets as a sales system issues them "
                            "(set-up, demos, tests)")
    ts = ticket.add_subparsers(dest="ticket_command", required=True)
    k = ts.add_parser("keygen", help="make a sales-system signing key (Ed25519)")
    k.add_argument("--out", required=True, help="directory (created 0700) for sales.key "
                   "(0600) and sales.pub; existing keys are never overwritten")
    k.set_defaults(func=cmd_ticket_keygen)
    i = ts.add_parser("issue", help="issue a signed ticket from a spec, as a QR code PNG")
    i.add_argument("--spec", required=True, help="the ticket spec (JSON; see "
                   "firmware/samples/ticket-spec.json)")
    i.add_argument("--key", required=True, help="the sales-system private key (sales.key)")
    i.add_argument("--qr", required=True, help="the QR code image to write (PNG)")
    i.add_argument("--out", help="also write the ticket's DRT1: text to this file")
    i.set_defaults(func=cmd_ticket_issue)


# -- the parser --------------------------------------------------------------------------------
def _add_ca(sub: Any) -> None:
    ca = sub.add_parser("ca", help="the fleet certificate authority")
    cs = ca.add_subparsers(dest="ca_command", required=True)
    i = cs.add_parser("init", help="create a (development) fleet root CA, ECDSA P-256")
    i.add_argument("--out", required=True, help="directory for ca.key (0600), ca.crt, "
                   "fleet-ca.crt; an existing CA key there is never overwritten")
    i.add_argument("--name", default="dualrec development fleet CA", help="the CA's CN")
    i.add_argument("--org", default="", help="organisation (O) in the CA's name")
    i.add_argument("--days", type=int, default=3650, help="validity (default 3650)")
    i.set_defaults(func=cmd_ca_init)
    s = cs.add_parser("issuing", help="create an issuing CA for a depot under the root")
    s.add_argument("--ca", required=True, help="the root CA directory")
    s.add_argument("--out", required=True, help="directory for the issuing CA")
    s.add_argument("--name", required=True, help="its CN, e.g. 'dualrec depot Shanghai 2025'")
    s.add_argument("--org", default="")
    s.add_argument("--days", type=int, default=1825, help="validity (default 1825)")
    s.set_defaults(func=cmd_ca_issuing)
    v = cs.add_parser("server-cert", help="issue the broker's TLS certificate")
    v.add_argument("--ca", required=True, help="the CA directory")
    v.add_argument("--host", required=True, action="append",
                   help="a DNS name or IP address of the broker (repeatable; first = CN)")
    v.add_argument("--out", required=True, help="directory for server.crt, server.key")
    v.add_argument("--days", type=int, default=825, help="validity (default 825)")
    v.add_argument("--force", action="store_true", help="replace an existing server.key")
    v.set_defaults(func=cmd_ca_server_cert)


def _add_device(sub: Any) -> None:
    dev = sub.add_parser("device", help="enrol a unit, rotate or check its keys")
    ds = dev.add_subparsers(dest="device_command", required=True)
    e = ds.add_parser("enroll", help="make a unit's keys and certificates, write its config")
    e.add_argument("--ca", required=True, help="the CA directory that issues")
    e.add_argument("--device-id", required=True, help="3-63 of a-z 0-9 '-'")
    e.add_argument("--out", required=True, help="the unit's key directory (created 0700)")
    e.add_argument("--unit-dir", help="where --out will be on the unit, for the paths in its "
                   "configuration (default: --out; set it when writing to a mounted card)")
    e.add_argument("--config", help="the unit's TOML configuration to write or update")
    for flag, what in (("--broker", "MQTT broker, mqtts://HOST:8883"),
                       ("--bucket", "S3 bucket for evidence"), ("--endpoint", "S3 endpoint URL"),
                       ("--org", "branch org code"), ("--channel", "branch channel code"),
                       ("--outlet", "branch outlet code")):
        e.add_argument(flag, default="", help=what)
    e.add_argument("--days", type=int, default=3650, help="certificate validity (days)")
    e.add_argument("--owner", default=SERVICE_USER,
                   help="service user to own the key files, if it exists ('' = leave as is)")
    e.set_defaults(func=cmd_enroll)
    r = ds.add_parser("rotate-key", help="replace the evidence key (stop the daemon first)")
    r.add_argument("--config", help="the unit's configuration (spool, key, certificate)")
    r.add_argument("--key", help="the current evidence key (instead of --config)")
    r.add_argument("--spool", help="the spool (instead of --config)")
    r.add_argument("--certificate", help="where to write the new evidence certificate")
    r.add_argument("--socket", help="the daemon's control socket, refused if it answers")
    r.add_argument("--ca", help="CA directory: re-issue the evidence certificate")
    r.add_argument("--days", type=int, default=3650)
    r.add_argument("--owner", default=SERVICE_USER)
    r.set_defaults(func=cmd_rotate_key)
    c = ds.add_parser("check", help="check a unit's certificates: 0 ok, 1 refused, 2 unusable")
    c.add_argument("--config", help="the unit's configuration (or the flags below)")
    for flag in ("--device-id", "--fleet-ca", "--key", "--certificate", "--tls-cert",
                 "--tls-key"):
        c.add_argument(flag)
    c.set_defaults(func=cmd_check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dualrec-provision", description="the fleet CA, enrolling units, rotating their "
        "evidence key, the back office's signed staff roster (docs/provisioning.md)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_ca(sub)
    add_operator_parser(sub)
    _add_device(sub)
    add_roster_parser(sub)
    add_config_parser(sub)
    _add_ticket(sub)
    from firmware.cli.crypto import add_insurer_key_parser
    add_insurer_key_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
