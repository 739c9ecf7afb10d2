"""Legal hold for disputes: a session's objects stay, whatever their retain-until date says.

A hold has no end date; it is released explicitly (``on=False``) when the dispute is settled.
It covers the session's files and the ledger objects (whole files and tail ranges) holding any
of its records, so the chain that proves the files is kept as long as they are.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from firmware.evidence.chain import file_records, ledger_paths
from firmware.evidence.ledger_files import LEDGER_DIR
from firmware.evidence.spool import SESSIONS_DIR
from firmware.protocol.bucket.layout import TAIL_DIR, object_key
from firmware.protocol.bucket.objects import classify

log = logging.getLogger(__name__)


def _keys(client: Any, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def ledgers_of_session(spool_root: Path, session_id: str) -> list[str]:
    """Names of the local ledger files holding a record of ``session_id``."""
    names = []
    for path in ledger_paths(spool_root):
        if any(rec.session == session_id for rec in file_records(path)):
            names.append(path.name)
    return names


def set_session_hold(client: Any, bucket: str, root: str, spool_root: Path, session_id: str,
                     on: bool = True) -> int:
    """Legal hold ON/OFF on the session's objects and its ledger objects; returns the count.
    Raises ValueError when the bucket holds no object of the session."""
    status = "ON" if on else "OFF"
    try:
        keys = _keys(client, bucket, object_key(root, f"{SESSIONS_DIR}/{session_id}/"))
        if not keys:
            raise ValueError(f"no objects of session {session_id} under s3://{bucket}/{root}; "
                             "sync it first")
        for name in ledgers_of_session(spool_root, session_id):
            keys += _keys(client, bucket, object_key(root, f"{LEDGER_DIR}/{name}"))
            keys += _keys(client, bucket, object_key(root, f"{TAIL_DIR}/{name}/"))
        for key in keys:
            client.put_object_legal_hold(Bucket=bucket, Key=key,
                                         LegalHold={"Status": status})
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified
        raise classify(exc, f"legal hold {status} for session {session_id}") from exc
    log.info("legal hold %s for session %s: %d objects", status, session_id, len(keys))
    return len(keys)
