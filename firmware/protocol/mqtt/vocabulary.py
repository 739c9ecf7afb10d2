"""The fleet protocol's enumerations: every closed set of words a payload may carry.

The machine-readable contract (``docs/asyncapi/dualrec-mqtt-v1.yaml``) is the source of truth;
a test keeps these tuples equal to its ``enum`` lists, so code and contract cannot drift. The
unit publishes only these words; operators' tools may rely on them (and must still ignore
words a later firmware adds to an open set, see docs/mqtt.md §1).
"""
from __future__ import annotations

STATES = ("online", "idle", "recording", "fault", "offline")
"""``state``: ``offline`` only at a clean stop or as the broker's Last Will."""

HEALTH = ("ok", "degraded", "fault", "missing", "unknown")
"""``telemetry.health.<part>``."""

EVENT_KINDS = ("boot", "session_started", "session_ended", "fault", "selftest",
               "record_refused", "badge_refused", "disk_low", "restart", "reboot")
"""``events.kind``."""

SESSION_ENDINGS = ("completed", "stopped", "disk_full", "fault", "interrupted", "restart",
                   "reboot", "shutdown", "other")
"""Why a session ended (``session_ended.data.ending``): ``completed`` the script ran to its
end and RECORD was held; ``stopped`` RECORD held before the end; ``disk_full`` the disk fell
below the reserve; ``fault`` the flow failed; ``interrupted`` power cut or crash, closed by
recovery at the next start; ``restart``/``reboot`` a forced command; ``shutdown`` the service
was stopped (systemctl stop, a shutdown); ``other`` a reason this version does not know."""

FINDINGS = ("node_missing", "missing_signature", "missing_photo", "node_too_short",
            "silent_answer", "no_face", "camera_dark", "media_gap", "unexplained_gap",
            "clock_unsynced", "person_missing", "id_mismatch", "document_mismatch")
"""The session quality checks a session can fail (``session_ended.data.findings``): the
session's own checks, fewer people in frame than the sale has at the counter, an ID card or
an application form that does not match the sale."""

SELFTEST_CHECKS = ("camera", "microphone", "pad", "disk", "clock", "voice", "recogniser",
                   "vision")
"""What a self-test checks (``selftest.data.failed``): the devices, the disk, the clock, and the
models the session needs (speech synthesis, recognition, vision)."""

FAULT_PARTS = SELFTEST_CHECKS + ("session", "sync")
"""``fault.data.part``. (The fleet agent's own failures show in ``state``: an event about the
agent would have to go through the agent.)"""

FAULT_REASONS = ("device_lost", "selftest_failed", "flow_fault", "uplink_failed")
"""``fault.data.reason``: a device went away during a recording; a self-test check failed;
the session flow failed; the uploader stopped working."""

PREVIOUS_STOPS = ("first_start", "stopped", "restart_command", "reboot_command", "unclean")
"""``boot.data.previous.stop``: how the run before this one ended (from the evidence chain:
a clean stop ends in SHUTDOWN; ``unclean`` is a power cut, a crash, a watchdog kill)."""

RECORD_REFUSALS = ("no_script", "evidence_damaged", "storage", "selftest", "no_ticket",
                   "ticket_forged", "ticket_expired", "ticket_not_yet_valid", "ticket_reused",
                   "ticket_wrong_unit", "ticket_malformed")
"""``record_refused.data.reason``: nothing bound, unacknowledged damage, the disk below its
reserve, a failed self-test check, no sale ticket shown, or the ticket refused (why)."""

ERROR_CODES = ("oversized", "malformed", "unknown_command", "bad_args", "busy", "in_progress",
               "id_reused", "retained", "rejected", "failed", "personal_data")
"""``error.code`` of a command response."""

CACHED_ERRORS = ("rejected", "failed", "personal_data")
"""Error answers that are kept and sent again for a repeated id (the command ran)."""

COMMANDS = ("ping", "capabilities", "status", "locate", "sync-now", "verify", "set-config",
            "apply-config-bundle", "restart", "reboot", "fetch-logs", "bind")

LIVE_SETTINGS = ("logging.level", "mqtt.reconnect_max_s", "mqtt.reconnect_min_s",
                 "mqtt.telemetry_interval_s")
"""Operational settings a set-config changes at once; every other one at the next restart."""

LOG_RUNS = ("current", "previous")
LOG_SOURCES = ("journal", "process")

UNIT_FLAGS = ("evidence-damage", "recording-blocked")
"""Telemetry flags about the unit now; besides, ``last-session:<ending>`` (an ending other
than ``completed``) and ``last-session:<finding>`` describe the last session."""


def telemetry_flags() -> tuple[str, ...]:
    """Every flag a unit may publish in telemetry."""
    endings = [f"last-session:{e}" for e in SESSION_ENDINGS if e != "completed"]
    return UNIT_FLAGS + tuple(endings) + tuple(f"last-session:{f}" for f in FINDINGS)
