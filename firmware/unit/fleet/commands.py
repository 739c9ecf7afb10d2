"""Commands: the request envelope, each command's arguments, and what each one does.

A request (MQTT v5, ``ResponseTopic`` + ``CorrelationData``) is a JSON object
``{"v": 1, "id": "...", "command": "ping", "args": {...}}`` of at most 16 KiB; other top-level
fields are ignored (a later operator tool may send more). Anything else is refused with an
error response before anything runs (codes in :data:`ERROR_CODES`, the contract's
``Error.code``).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from firmware.protocol.mqtt import vocabulary
from firmware.protocol.mqtt.errors import CommandError
from firmware.protocol.mqtt.privacy import redact_text
from firmware.ticket.codec import MAX_TEXT_CHARS
from firmware.unit.fleet.desired_config import ConfigShadow
from firmware.unit.fleet.hooks import DeviceHooks

MAX_COMMAND_BYTES = 16 * 1024
MAX_LOG_BYTES = 128 * 1024
CMD_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
ERROR_CODES = {
    "oversized": "the request is larger than 16 KiB",
    "malformed": "not a JSON object {v: 1, id, command, args}",
    "unknown_command": "no such command",
    "bad_args": "an argument is unknown, missing, of the wrong type or out of range",
    "busy": "too many commands are waiting; try again",
    "in_progress": "a command with this id is still running",
    "id_reused": "the id was used for another command or other arguments; send a new id",
    "retained": "the request was published retained; commands are never retained",
    "rejected": "the unit refused it (the message says why)",
    "failed": "the unit tried and failed (the message says why)",
    "personal_data": "the answer held what looks like personal data and was withheld",
}


@dataclass(frozen=True)
class Arg:
    """One argument: its JSON type, default (None: required), numeric bounds or choices, and
    a string's length (``min_len``..``max_len`` characters)."""

    kind: type | tuple[type, ...]
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    min_len: int | None = None
    max_len: int | None = None


@dataclass(frozen=True)
class CommandSpec:
    args: dict[str, Arg] = field(default_factory=dict)
    slow: bool = True            # runs on the slow worker (one at a time), not the fast one


SPECS: dict[str, CommandSpec] = {
    "ping": CommandSpec(slow=False),
    "capabilities": CommandSpec(slow=False),
    "status": CommandSpec(slow=False),
    "locate": CommandSpec({"seconds": Arg((int, float), 30, 1, 600)}),
    "sync-now": CommandSpec(),
    "verify": CommandSpec(),
    "set-config": CommandSpec({"version": Arg(int, None, 1, 2**31 - 1),
                               "desired": Arg(dict, None),
                               "mode": Arg(str, "merge", choices=("merge", "replace"))}),
    "apply-config-bundle": CommandSpec({"bundle": Arg((dict, str), None)}),
    "restart": CommandSpec({"force": Arg(bool, False)}),
    "reboot": CommandSpec({"force": Arg(bool, False)}),
    "fetch-logs": CommandSpec({"lines": Arg(int, 200, 1, 5000),
                               "run": Arg(str, "current", choices=vocabulary.LOG_RUNS)}),
    "bind": CommandSpec({"ticket": Arg(str, None, min_len=1, max_len=MAX_TEXT_CHARS)}),
}


@dataclass(frozen=True)
class Command:
    id: str
    name: str
    args: dict[str, Any]

    @property
    def slow(self) -> bool:
        return SPECS[self.name].slow

    @property
    def fingerprint(self) -> str:
        """What the request asks (command and arguments, defaults filled in), hashed: the same
        id for another request is refused instead of answered with the old answer."""
        text = json.dumps({"command": self.name, "args": self.args}, sort_keys=True,
                          ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_arg(name: str, value: Any, arg: Arg) -> str | None:
    kinds = arg.kind if isinstance(arg.kind, tuple) else (arg.kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        return f"{name} must be {' or '.join(k.__name__ for k in kinds)}"
    if arg.lo is not None and not arg.lo <= value <= arg.hi:  # NaN fails this too
        return f"{name} must be between {arg.lo} and {arg.hi}"
    if arg.choices and value not in arg.choices:
        return f"{name} must be one of {', '.join(arg.choices)}"
    if arg.max_len is not None and not (arg.min_len or 0) <= len(value) <= arg.max_len:
        return f"{name} must have {arg.min_len or 0} to {arg.max_len} characters"
    return None


def readable_parts(raw: Any) -> tuple[str | None, str | None]:
    """The request's id (when valid) and command (any string, cut to 64 characters)."""
    if not isinstance(raw, dict):
        return None, None
    cmd_id = raw.get("id") if isinstance(raw.get("id"), str) and CMD_ID.fullmatch(raw["id"]) \
        else None
    name = raw.get("command")[:64] if isinstance(raw.get("command"), str) else None
    return cmd_id, name


def parse_command(payload: bytes) -> Command:
    """The command in a request payload, or :class:`CommandError` (with what could be read)."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandError("oversized", f"the request has {len(payload)} bytes; at most "
                           f"{MAX_COMMAND_BYTES}")
    try:
        raw = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CommandError("malformed", f"not UTF-8 JSON ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise CommandError("malformed", "the request is not a JSON object")
    cmd_id, name = readable_parts(raw)

    def refuse(code: str, message: str) -> CommandError:
        return CommandError(code, message, cmd_id=cmd_id, command=name)

    if raw.get("v") != 1 or isinstance(raw.get("v"), bool):
        raise refuse("malformed", "\"v\" must be 1")
    if cmd_id is None:
        raise refuse("malformed", "\"id\" must be 1-64 of A-Z a-z 0-9 . _ : -")
    if name is None:
        raise refuse("malformed", "\"command\" must be a string")
    if name not in SPECS:
        raise refuse("unknown_command", f"unknown command {name[:40]!r}; known: "
                     f"{', '.join(SPECS)}")
    args = raw.get("args", {})
    if not isinstance(args, dict):
        raise refuse("bad_args", "\"args\" must be an object")
    spec = SPECS[name].args
    unknown = set(args) - set(spec)
    if unknown:
        raise refuse("bad_args", f"{name} takes no argument {sorted(unknown)[0][:40]!r} "
                     f"(it takes: {', '.join(spec) or 'none'})")
    values = {}
    for arg_name, arg in spec.items():
        if arg_name not in args:
            if arg.default is None:
                raise refuse("bad_args", f"{name} needs the argument {arg_name}")
            values[arg_name] = arg.default
            continue
        problem = _check_arg(arg_name, args[arg_name], arg)
        if problem:
            raise refuse("bad_args", problem)
        values[arg_name] = args[arg_name]
    return Command(cmd_id, name, values)


@dataclass
class Outcome:
    """A command's result, and what to do once the answer is stored and sent (a restart)."""

    result: dict[str, Any]
    then: Callable[[], None] | None = None


def verify_summary(report: dict[str, Any], findings: int = 50, notes: int = 20) -> dict:
    """A verify report cut to fit a response: counts, the head, the first findings and notes."""
    all_findings = report.get("findings") or []
    all_notes = report.get("notes") or []
    out = {k: report.get(k) for k in ("verdict", "device_id", "records", "first_seq", "head_seq",
                                      "head_hash", "files_checked", "bytes_checked")}
    out.update({"ok": report.get("verdict") == "intact",
                "sessions": len(report.get("sessions") or []),
                "findings": all_findings[:findings], "findings_total": len(all_findings),
                "notes": all_notes[:notes], "notes_total": len(all_notes)})
    return out


class CommandHandlers:
    """What each command does, through the hooks. The agent gives: ``defer(action, cmd_id)``
    keeps a restart or reboot for when recording stops; ``begin(action, cmd_id, force)`` runs
    one now (after the answer is sent); ``agent_status()``, ``telemetry()`` (the telemetry
    payload as published) and ``capabilities()``; ``config_changed()`` republishes
    ``config/reported``."""

    def __init__(self, hooks: DeviceHooks, shadow: ConfigShadow, *,
                 defer: Callable[[str, str], None],
                 begin: Callable[[str, str, bool], None],
                 agent_status: Callable[[], dict[str, Any]],
                 telemetry: Callable[[], dict[str, Any]],
                 capabilities: Callable[[], dict[str, Any]],
                 config_changed: Callable[[], None]) -> None:
        self.hooks = hooks
        self.shadow = shadow
        self.defer = defer
        self.begin = begin
        self.agent_status = agent_status
        self.telemetry = telemetry
        self.capabilities = capabilities
        self.config_changed = config_changed

    def run(self, cmd: Command) -> Outcome:
        handler = getattr(self, "_" + cmd.name.replace("-", "_"))
        return handler(cmd)

    def _ping(self, cmd: Command) -> Outcome:
        return Outcome({"pong": True})

    def _capabilities(self, cmd: Command) -> Outcome:
        return Outcome(self.capabilities())

    def _status(self, cmd: Command) -> Outcome:
        status = self.hooks.current_state()
        return Outcome({"state": status.state, "detail": status.detail,
                        "telemetry": self.telemetry(), "agent": self.agent_status()})

    def _locate(self, cmd: Command) -> Outcome:
        self.hooks.locate(float(cmd.args["seconds"]))
        return Outcome({"seconds": cmd.args["seconds"]})

    def _sync_now(self, cmd: Command) -> Outcome:
        return Outcome(self.hooks.sync_now())

    def _verify(self, cmd: Command) -> Outcome:
        return Outcome(verify_summary(self.hooks.verify()))

    def _set_config(self, cmd: Command) -> Outcome:
        try:
            return Outcome(self.shadow.apply(cmd.args["desired"], cmd.args["version"],
                                             self.hooks, mode=cmd.args["mode"]))
        finally:
            self.config_changed()

    def _apply_config_bundle(self, cmd: Command) -> Outcome:
        try:
            return Outcome(self.shadow.apply_bundle(cmd.args["bundle"], self.hooks))
        finally:
            self.config_changed()

    def _restart(self, cmd: Command) -> Outcome:
        return self._lifecycle(cmd, "restart")

    def _reboot(self, cmd: Command) -> Outcome:
        return self._lifecycle(cmd, "reboot")

    def _lifecycle(self, cmd: Command, action: str) -> Outcome:
        force = cmd.args["force"]
        can = getattr(self.hooks.abilities(), action)
        if not can.available:
            raise CommandError("rejected", f"{action} is not available on this unit: {can.why}")
        if not force and self.hooks.is_recording():
            self.defer(action, cmd.id)
            return Outcome({"deferred": True, "reason": f"recording: the {action} runs when "
                            "the session ends (send force: true to interrupt it)"})
        return Outcome({"accepted": True, "force": force},
                       then=lambda: self.begin(action, cmd.id, force))

    def _bind(self, cmd: Command) -> Outcome:
        """The sale's ticket from the back office, checked exactly as a QR at the counter or
        ``dualrec bind --ticket``: refused while a session records, and with the ticket's
        refusal reason (forged, expired, reused, wrong unit...)."""
        bind_ticket = getattr(self.hooks, "bind_ticket", None)
        if bind_ticket is None:
            raise CommandError("rejected", "this unit takes no tickets over MQTT (its hooks "
                               "have no bind_ticket)")
        if self.hooks.is_recording():
            raise CommandError("rejected", "a session is recording; bind the next one after "
                               "it ends")
        try:
            return Outcome(bind_ticket(cmd.args["ticket"].strip()))
        except ValueError as exc:   # the ticket's refusal, or the unit's (no sales key)
            raise CommandError("rejected", str(exc)) from None

    def _fetch_logs(self, cmd: Command) -> Outcome:
        excerpt = self.hooks.fetch_logs(cmd.args["lines"], cmd.args["run"])
        text = redact_text(excerpt.text)
        data = text.encode("utf-8")
        truncated = len(data) > MAX_LOG_BYTES
        if truncated:
            text = data[-MAX_LOG_BYTES:].decode("utf-8", "ignore")
            text = text[text.find("\n") + 1:]
        return Outcome({"lines": text.count("\n") + (not text.endswith("\n") and bool(text)),
                        "truncated": truncated, "text": text, "run": cmd.args["run"],
                        "source": excerpt.source, "note": excerpt.note})
