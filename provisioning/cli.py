"""``dualrec-provision``: enrolment and roster signing (arrives with the provisioning issue)."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("dualrec-provision: not available yet (device enrolment, fleet CA and roster signing "
          "arrive with the provisioning work); the device key is created by `dualrec run` at "
          "first start", file=sys.stderr)
    return 2
