"""firmware.ticket is shared by the unit and the office: it imports neither side's code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("firmware.unit.appliance", "firmware.unit.fleet", "firmware.unit.sync", "firmware.unit.session",
             "firmware.unit.recorder", "provisioning")


def test_ticket_package_imports_no_unit_or_office_code() -> None:
    probe = ("import sys, pkgutil, importlib, firmware.ticket\n"
             "for m in pkgutil.iter_modules(firmware.ticket.__path__):\n"
             "    importlib.import_module('firmware.ticket.' + m.name)\n"
             f"bad = sorted(n for n in sys.modules if n.startswith({FORBIDDEN!r}))\n"
             "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.strip() == "", f"firmware.ticket pulls in: {out.stdout.strip()}"
