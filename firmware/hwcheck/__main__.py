"""``python -m firmware.hwcheck`` = ``dualrec hwcheck``."""
import sys

from firmware.hwcheck.cli import main

sys.exit(main())
