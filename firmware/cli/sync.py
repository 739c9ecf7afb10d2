"""``dualrec sync SPOOL --endpoint URL --bucket NAME [--prefix P]`` and the ``s3://`` part of
``dualrec verify``; firmware/cli.py hooks these in:

    add_sync_parser(subparsers)                    # the "sync" subcommand (sets func=cmd_sync)
    add_verify_s3_arguments(verify_parser)         # --endpoint/--region for "verify s3://…"
    verify_s3(url, endpoint, json, checkpoints, trusted_key=..., region=...) -> exit code

Exit codes: ``sync`` 0 only when everything sealed is uploaded and confirmed, 1 when anything
is left (network, conflicts, files that do not match their records), 2 for unusable input.
``verify`` 0 intact, 1 findings, 2 unusable input (as for a local path).
"""
from __future__ import annotations

import argparse
import json as jsonlib
import logging
import sys
import time
from typing import IO

from firmware.errors import DualrecError, NotEvidenceError

log = logging.getLogger("dualrec.sync")


class TerminalProgress:
    """Progress (files, bytes, rate) on one updating line of ``stream``, only if it is a tty;
    at most every ``every_s`` seconds."""

    def __init__(self, stream: IO[str] = sys.stderr, every_s: float = 0.2) -> None:
        self.stream = stream
        self.every_s = every_s
        self.enabled = hasattr(stream, "isatty") and stream.isatty()
        self._last = 0.0
        self._shown = False

    def __call__(self, p) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < self.every_s
                                and p.files_done < p.files_total):
            return
        self._last = now
        self._shown = True
        mib = 1024 * 1024
        self.stream.write(f"\r  {p.files_done}/{p.files_total} files, "
                          f"{p.bytes_done / mib:.1f}/{p.bytes_total / mib:.1f} MiB, "
                          f"{p.rate / mib:.2f} MiB/s ")
        self.stream.flush()

    def done(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()


def add_sync_parser(subparsers) -> argparse.ArgumentParser:
    s = subparsers.add_parser("sync", help="upload a spool's sealed evidence to S3 once: exit 0 "
                              "only when all of it is confirmed in the bucket")
    s.add_argument("spool")
    s.add_argument("--endpoint", default="", metavar="URL",
                   help="the S3-compatible endpoint (default: AWS S3)")
    s.add_argument("--bucket", required=True, metavar="NAME")
    s.add_argument("--prefix", default="", metavar="P",
                   help="keys are P/<device-id>/<spool path>")
    s.add_argument("--region", default="")
    s.add_argument("--addressing-style", default="auto", choices=("auto", "path", "virtual"))
    s.add_argument("--ca-bundle", default="", metavar="PEM")
    s.add_argument("--retention-years", type=int, default=10,
                   help="Object Lock retain-until = upload time + this (default 10)")
    s.add_argument("--retention-mode", default="COMPLIANCE",
                   choices=("COMPLIANCE", "GOVERNANCE", "bucket-default"))
    s.add_argument("--rate-limit", type=int, default=0, metavar="KIB_S",
                   help="bandwidth cap in KiB/s (default: none)")
    s.add_argument("--workers", type=int, default=4)
    s.add_argument("--part-size-mb", type=int, default=8)
    s.add_argument("--legal-hold", action="append", default=[], metavar="SESSION",
                   help="after uploading, put a legal hold on this session (repeatable)")
    s.add_argument("--release-hold", action="append", default=[], metavar="SESSION",
                   help="release the legal hold of this session (repeatable)")
    s.add_argument("--json", action="store_true", help="a machine-readable summary")
    s.set_defaults(func=cmd_sync)
    return s


def cmd_sync(args: argparse.Namespace) -> int:
    from firmware.office.bucket.legal_hold import set_session_hold
    from firmware.unit.sync.settings import SyncSettings
    from firmware.unit.sync.uploader import Uploader
    try:
        settings = SyncSettings(
            bucket=args.bucket, endpoint=args.endpoint, prefix=args.prefix, region=args.region,
            addressing_style=args.addressing_style, ca_bundle=args.ca_bundle,
            retention_years=args.retention_years, retention_mode=args.retention_mode,
            rate_limit_kib_s=args.rate_limit, workers=args.workers,
            part_size_mb=args.part_size_mb,
            multipart_threshold_mb=max(args.part_size_mb, 16))
        progress = TerminalProgress()
        uploader = Uploader(args.spool, settings, on_progress=progress)
    except (DualrecError, ValueError, OSError) as exc:
        print(f"dualrec sync: {exc}", file=sys.stderr)
        return 2
    holds: dict[str, int] = {}
    with uploader:
        result = uploader.run_once(ignore_window=True)
        progress.done()
        hold_failed = False
        for session, on in [(s, True) for s in args.legal_hold] + \
                           [(s, False) for s in args.release_hold]:
            try:
                holds[session] = set_session_hold(uploader.client, settings.bucket,
                                                  uploader.root, uploader.spool.root,
                                                  session, on)
            except (DualrecError, ValueError) as exc:
                print(f"dualrec sync: legal hold {'on' if on else 'off'} {session}: {exc}",
                      file=sys.stderr)
                hold_failed = True
    if args.json:
        print(jsonlib.dumps({"target": uploader.target, "complete": result.complete,
                             "uploaded": result.uploaded, "already": result.already,
                             "bytes_uploaded": result.bytes_uploaded,
                             "backlog": result.backlog.as_dict(),
                             "conflicts": [str(c) for c in result.conflicts],
                             "problems": [str(p) for p in result.problems],
                             "error": str(result.error) if result.error else None,
                             "legal_holds": holds}, indent=2))
    else:
        for problem in result.conflicts + result.problems:
            print(f"  ! {problem}")
        print(f"{uploader.target}: {result.summary()}")
        print("sync: COMPLETE (everything sealed is in the bucket, confirmed)"
              if result.complete else "sync: INCOMPLETE (run again; see above)")
    return 0 if result.complete and not hold_failed else 1


def add_verify_s3_arguments(verify_parser: argparse.ArgumentParser) -> None:
    """The options ``dualrec verify s3://BUCKET/PREFIX`` needs besides a local verify's."""
    verify_parser.add_argument("--endpoint", default="", metavar="URL",
                               help="S3-compatible endpoint, for s3:// paths")
    verify_parser.add_argument("--region", default="", help="region, for s3:// paths")


def verify_s3(url: str, endpoint: str | None, json: bool = False,
              checkpoints: list[dict | str] = (), *, trusted_key=None,
              region: str = "", client=None) -> int:
    """Verify evidence straight from the bucket and print the report(s) to stdout.
    Returns 0 (intact), 1 (findings) or 2 (unusable input: bad URL, no evidence there,
    endpoint unreachable). Credentials: the standard AWS_* environment variables."""
    from firmware.office.bucket.bucket_verify import verify_bucket
    from firmware.protocol.bucket.layout import parse_s3_url
    from firmware.protocol.bucket.objects import classify
    try:
        bucket, _prefix = parse_s3_url(url)
        if client is None:
            from firmware.unit.sync.s3client import make_client
            from firmware.unit.sync.settings import SyncSettings
            client = make_client(SyncSettings(bucket=bucket, endpoint=endpoint or "",
                                              region=region, max_attempts=3))
        reports = verify_bucket(client, url, trusted_key=trusted_key, checkpoints=checkpoints)
    except (NotEvidenceError, ValueError, OSError) as exc:
        print(f"dualrec verify: unusable input: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - botocore's errors: the bucket cannot be read
        print(f"dualrec verify: unusable input: {classify(exc, url)}", file=sys.stderr)
        return 2
    if json:
        out = [r.as_dict() for r in reports]
        print(jsonlib.dumps(out[0] if len(out) == 1 else out, indent=2, ensure_ascii=False,
                            default=str))
    else:
        print("\n\n".join(r.to_text() for r in reports))
    return 0 if all(r.ok for r in reports) else 1


def main(argv: list[str] | None = None) -> int:
    """Standalone entry for tests and until firmware/cli.py hooks these in."""
    parser = argparse.ArgumentParser(prog="dualrec")
    sub = parser.add_subparsers(dest="command", required=True)
    add_sync_parser(sub)
    v = sub.add_parser("verify")
    v.add_argument("path")
    v.add_argument("--json", action="store_true")
    v.add_argument("--checkpoint", action="append", default=[], metavar="FILE")
    add_verify_s3_arguments(v)
    v.set_defaults(func=lambda a: verify_s3(a.path, a.endpoint, a.json, _witnesses(a),
                                            region=a.region))
    args = parser.parse_args(argv)
    return args.func(args)


def _witnesses(args: argparse.Namespace) -> list:
    from firmware.evidence.verify import load_checkpoint_file
    return [w for f in args.checkpoint for w in load_checkpoint_file(f)]
