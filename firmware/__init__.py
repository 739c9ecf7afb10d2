"""dualrec firmware: session flow, recorder, evidence chain, spool, verifier, fleet agent, sync."""

__version__ = "0.1.0"
