"""``dualrec hwcheck``: the hardware self-check a technician runs at the branch.

It opens each device of the unit's configuration on its own (one missing device does not hide
the others), exercises it, and prints one PASS / FAIL / SKIP line per check: camera,
microphone, speaker, each button, each LED and the buzzer, signature pad, clock (NTP), disk and
spool. Buttons need a person to press them and LEDs a person to look at them; on simulated
hardware ``--simulate-input`` does both (it presses the mock pins and reads them back), so the
check itself is tested. Exit 0: nothing failed; 1: something failed; 2: it could not run.

The appliance must be stopped first (it holds the camera and the GPIO lines):
``sudo systemctl stop dualrec``, then run it as the service user so that device and spool
permissions are the service's own: ``sudo -u dualrec dualrec hwcheck --config FILE``
(the command line is :mod:`firmware.cli.hwcheck`).
"""
from firmware.unit.hwcheck.checks import CHECKS, Result, SimulatedTechnician, Technician
from firmware.unit.hwcheck.rig import Rig, format_results, run_checks

__all__ = ["CHECKS", "Result", "Rig", "SimulatedTechnician", "Technician", "format_results",
           "run_checks"]
