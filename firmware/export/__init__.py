"""The review copy of a session (``dualrec export``): see :mod:`firmware.export.export`.

Only the command is imported here; the export itself (PyAV, OpenCV, Pillow) loads when run.
"""
from firmware.export.cli import add_export_parser, cmd_export, run_export

__all__ = ["add_export_parser", "cmd_export", "run_export"]
