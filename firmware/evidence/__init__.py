"""The evidence: its format, its one door, and its verifier — shared by the unit and the office.

Writing goes through :class:`firmware.evidence.store.Evidence` only (sessions, sealed files,
events, gaps, prunings); nothing outside this package appends ledger records or builds spool
paths. :mod:`~firmware.evidence.durable` is the one way files are written (atomic, fsync'd,
never through a symlink). :mod:`~firmware.evidence.verify` checks a spool as any third party
would, from docs/evidence-format.md alone. Importing this package does no work.
"""
