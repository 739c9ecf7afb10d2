"""``dualrec-fleet``: the operators' view of the fleet over MQTT (arrives with the fleet issue)."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("dualrec-fleet: not available yet (the MQTT fleet tools arrive with the fleet "
          "operations work)", file=sys.stderr)
    return 2
