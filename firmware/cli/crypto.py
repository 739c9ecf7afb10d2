"""``dualrec-provision insurer-key generate --out DIR``: a development insurer key pair."""
from __future__ import annotations

import argparse
import sys

from firmware.evidence.crypto.insurer_keys import ALGORITHMS, generate_insurer_key
from firmware.errors import DualrecError


def cmd_insurer_key_generate(args: argparse.Namespace) -> int:
    """Make the key pair; print where it went. Exit 0, or 2 if it could not be made."""
    try:
        made = generate_insurer_key(args.out, args.algorithm, rsa_bits=args.bits)
    except (DualrecError, OSError) as exc:
        print(f"dualrec-provision: {exc}", file=sys.stderr)
        return 2
    print(f"private key: {made.private_path} (mode 0600; keep it off the units: it reads every "
          "recording made for it)")
    print(f"public key:  {made.public_path} (give this to the units)")
    print(f"fingerprint: {made.fingerprint} ({made.algorithm})")
    return 0


def add_insurer_key_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``insurer-key`` (with ``generate``) to the ``dualrec-provision`` sub-commands; the
    parsed namespace's ``func`` runs it and returns the exit status."""
    p = subparsers.add_parser(
        "insurer-key", help="the insurer's key pair that session keys are wrapped to")
    actions = p.add_subparsers(dest="insurer_key_action", metavar="ACTION", required=True)
    g = actions.add_parser(
        "generate", help="make an X25519 or RSA key pair for development and tests "
        "(insurer-ALG.key, mode 0600, and insurer-ALG.pub)")
    g.add_argument("--out", required=True, help="directory to write the two PEM files into "
                   "(created if missing; existing files are never overwritten)")
    g.add_argument("--algorithm", choices=ALGORITHMS, default="x25519",
                   help="x25519 (default) or rsa (RSA-OAEP-SHA256 wrapping)")
    g.add_argument("--bits", type=int, default=3072, help="RSA modulus size (default 3072, "
                   "at least 2048)")
    g.set_defaults(func=cmd_insurer_key_generate)
    return p
