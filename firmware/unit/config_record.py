"""The effective configuration on the chain: every configuration that takes effect is recorded.

At every start, right after the evidence is opened, the unit compares the configuration it
runs with the last one it recorded (kept in ``SPOOL/state/config-recorded.json``) and, when
they differ (and at the first start), appends an EVENT of kind ``config``::

    {"kind": "config", "sha256": HEX, "previous_sha256": HEX | null,
     "source": "file /etc/dualrec/dualrec.toml; bundle serial 7; set-config version 4",
     "changed": {"sync.endpoint": {"from": "\\"https://a\\"", "to": "\\"https://b\\""}, ...},
     "refused": ["..."]}                  # only when remote state was refused at this start

Values are written as their JSON text (``"30.0"``, ``"\\"COMPLIANCE\\""``, ``"true"``) because
evidence records hold no floats; ``from`` is null for a key that was not recorded before, ``to``
null for one that no longer exists. ``sha256`` is the SHA-256 of the canonical JSON
(:mod:`firmware.evidence.canonical`) of the flat ``{"section.key": JSON text}`` map of the whole
effective configuration, so an auditor can tell when sync or encryption changed and, given the
configuration, check that it is the one recorded.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from firmware.evidence import canonical
from firmware.config.model import Config, section_names
from firmware.evidence.durable import ensure_dir, read_regular, write_atomic
from firmware.evidence.spool import Spool

if TYPE_CHECKING:
    from firmware.evidence.store import Evidence
    from firmware.evidence.records import Record

log = logging.getLogger(__name__)

RECORDED_FILE = "config-recorded.json"
MAX_RECORDED_BYTES = 1024 * 1024


def config_values(config: Config) -> dict[str, str]:
    """The effective configuration as ``{"section.key": JSON text of the value}``."""
    out = {}
    for section in section_names():
        values = getattr(config, section)
        for f in fields(values):
            value = getattr(values, f.name)
            if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)    # as the model reads it: 30 and 30.0 are one setting
            out[f"{section}.{f.name}"] = json.dumps(value, ensure_ascii=False)
    return out


def _digest(values: Mapping[str, str]) -> str:
    return hashlib.sha256(canonical.encode(dict(values))).hexdigest()


def config_summary(config: Config) -> tuple[str, dict[str, str]]:
    """``(sha256 of the canonical form, {"section.key": JSON text})`` of ``config``."""
    values = config_values(config)
    return _digest(values), values


def _flat(config: Config | Mapping[str, str] | None) -> dict[str, str] | None:
    if config is None:
        return None
    if isinstance(config, Config):
        return config_values(config)
    return dict(config)


def config_change_record(previous: Config | Mapping[str, str] | None, current: Config,
                         source: str) -> dict[str, Any]:
    """The data of the EVENT ``config`` for a change from ``previous`` (a configuration, its
    :func:`config_values`, or None for the first one) to ``current``; ``source`` says where
    ``current`` came from. Holds no floats (canonical JSON)."""
    before = _flat(previous)
    sha, after = config_summary(current)
    old = before or {}
    changed = {key: {"from": old.get(key), "to": after.get(key)}
               for key in sorted(set(old) | set(after)) if old.get(key) != after.get(key)}
    return {"sha256": sha, "previous_sha256": _digest(before) if before is not None else None,
            "source": source, "changed": changed}


def _last_recorded(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(read_regular(path, MAX_RECORDED_BYTES))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s): the configuration is recorded afresh", path, exc)
        return None
    values = data.get("values") if isinstance(data, dict) else None
    if not isinstance(values, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                               for k, v in values.items()):
        log.warning("%s is not a recorded configuration: the configuration is recorded afresh",
                    path)
        return None
    refused = data.get("refused")
    return {"values": values,
            "refused": refused if isinstance(refused, list) else []}


def record_effective_config(evidence: "Evidence", config: Config) -> "Record | None":
    """Put ``config`` on the chain (EVENT ``config``) if it differs from the last one recorded
    by this spool, or if remote configuration was refused at this start; the record, or None
    when nothing changed. Called once per start, right after the evidence is opened."""
    path = Spool(config.spool.path).state_dir / RECORDED_FILE
    last = _last_recorded(path)
    sha, values = config_summary(config)
    refused = list(config.origin.refused)
    if last is not None and last["values"] == values and last["refused"] == refused:
        return None
    data = config_change_record(last["values"] if last else None, config,
                                config.origin.describe(config.source))
    if refused:
        data["refused"] = refused
    record = evidence.event("config", data)
    ensure_dir(path.parent)
    write_atomic(path, json.dumps({"v": 1, "sha256": sha, "seq": record.seq, "values": values,
                                   "refused": refused}, ensure_ascii=False).encode("utf-8"))
    log.info("configuration %s recorded at seq %d (%d keys changed; %s)", sha[:12], record.seq,
             len(data["changed"]), data["source"])
    return record
