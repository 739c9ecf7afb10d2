"""The review copy of a session (``dualrec export``): :mod:`firmware.office.export.export`; the
command line is :mod:`firmware.cli.export`. Importing this package does no work."""
