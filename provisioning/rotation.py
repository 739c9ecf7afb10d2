"""Rotating a unit's evidence-signing key.

The old key signs a KEY record that holds the new key and the new key's proof (its signature
over the record's ``prev`` and its own public key: docs/evidence-format.md), so the chain
carries the hand-over and every later record is signed by the new key. Order, for power cuts:

1. the new key is written to ``KEY_FILE.new`` (0600, fsync'd);
2. recovery seals whatever the last stop left open (with the old key), then the KEY record and
   a CHECKPOINT signed by the new key are appended;
3. ``KEY_FILE.new`` replaces ``KEY_FILE``.

Cut between 2 and 3, the ledger already names the new key: running the rotation again sees
that and only finishes step 3. Cut before 2, the half-made key is thrown away and the rotation
starts over. The daemon must be stopped meanwhile: there is one writer of a ledger.
"""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from drivers.clock import Clock, SystemClock
from firmware.evidence import records
from firmware.evidence.certs import EVIDENCE, check_device_certificate
from firmware.evidence.keys import DeviceKey
from firmware.evidence.store import rotate_ledger_key
from firmware.evidence.chain import last_record
from firmware.evidence.recovery import recover
from firmware.evidence.spool import DeviceInfo, Spool
from provisioning.ca import FleetCA, device_csr
from provisioning.errors import RotationError
from firmware.evidence.durable import fsync_dir
from provisioning.files import SERVICE_USER, hand_to_user, write_file

log = logging.getLogger(__name__)

PENDING_SUFFIX = ".new"


@dataclass
class Rotation:
    """What :func:`rotate_evidence_key` did."""

    device_id: str
    old_fingerprint: str
    new_fingerprint: str
    key_record_seq: int | None      # None when an interrupted rotation was only finished
    key_file: Path
    certificate: Path | None = None
    resumed: bool = False


def current_signer(spool: Spool) -> str | None:
    """Fingerprint of the key that signs the spool's next record (None: empty ledger)."""
    record = last_record(spool.root)
    if record is None:
        return None
    return record.data["fingerprint"] if record.type == records.KEY else record.body["key"]


def daemon_running(control_socket: str | os.PathLike) -> bool:
    """True when something answers on the daemon's control socket."""
    if not control_socket or not Path(control_socket).exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(control_socket))
        except OSError:
            return False
    return True


def _load(path: Path, what: str) -> DeviceKey:
    try:
        return DeviceKey.load(path)
    except FileNotFoundError:
        raise RotationError(f"{path}: no {what} there") from None
    except (OSError, ValueError) as exc:
        raise RotationError(f"{what} {path}: {exc}") from None


def _install(pending: Path, key_file: Path) -> None:
    os.replace(pending, key_file)
    fsync_dir(key_file.parent)


def rotate_evidence_key(spool_path: str | os.PathLike, key_file: str | os.PathLike, *,
                        clock: Clock | None = None, ca: FleetCA | None = None,
                        certificate: str | os.PathLike | None = None, days: int = 3650,
                        checkpoint_every: int = 100, control_socket: str = "",
                        owner: str = SERVICE_USER) -> Rotation:
    """Replace the evidence key at ``key_file`` that signs the spool at ``spool_path``.

    With ``ca``, a new evidence certificate for the new key is written to ``certificate``
    and into the spool's ``device/device.json``. ``control_socket``: the daemon's, refused
    when it answers. ``owner``: the service user the new key file is handed to."""
    if daemon_running(control_socket):
        raise RotationError(f"the daemon answers on {control_socket}: stop it first "
                            "(systemctl stop dualrec), then rotate")
    if ca is not None and not certificate:
        raise RotationError("give the certificate file to write the new evidence certificate "
                            "to (--certificate, or [device] certificate in --config)")
    clock = clock or SystemClock()
    try:
        spool = Spool.open_existing(spool_path)
    except ValueError as exc:
        raise RotationError(str(exc)) from None
    info = spool.read_device_info()
    key_file = Path(key_file)
    pending = key_file.with_name(key_file.name + PENDING_SUFFIX)
    old = _load(key_file, "evidence key")
    signer = current_signer(spool)
    waiting = _load(pending, "pending key") if pending.exists() else None
    result: Rotation
    if waiting is not None and signer == waiting.public.fingerprint:
        new = waiting
        log.warning("%s: the ledger already names the key in %s; finishing that rotation",
                    spool.root, pending)
        _install(pending, key_file)
        result = Rotation(info.device_id, old.public.fingerprint, new.public.fingerprint, None,
                          key_file, resumed=True)
    else:
        if signer != old.public.fingerprint:
            raise RotationError(f"{key_file} (key {old.public.fingerprint[:16]}…) does not sign "
                                f"the ledger of {spool.root} (its key is {str(signer)[:16]}…): "
                                "give this unit's current key file")
        if waiting is not None:
            log.warning("%s: left by a rotation cut short before its KEY record; discarded",
                        pending)
            pending.unlink()
        recover(spool, old, clock, device_id=info.device_id, checkpoint_every=checkpoint_every)
        new = DeviceKey.load_or_create(pending)
        record = rotate_ledger_key(spool.root, old, new, clock, info.device_id)
        _install(pending, key_file)
        result = Rotation(info.device_id, old.public.fingerprint, new.public.fingerprint,
                          record.seq, key_file)
    hand_to_user([key_file], owner)
    if ca is not None:
        result.certificate = _reissue(spool, info, key_file, ca, Path(certificate), days)
    log.info("%s: evidence key rotated %s -> %s", spool.root, result.old_fingerprint,
             result.new_fingerprint)
    return result


def _reissue(spool: Spool, info: DeviceInfo, key_file: Path, ca: FleetCA, path: Path,
             days: int) -> Path:
    """A new evidence certificate for the key now at ``key_file``, written to ``path`` and to
    device/device.json (whose ``public_key`` stays the genesis key)."""
    from cryptography.hazmat.primitives import serialization
    private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    key = DeviceKey.load(key_file)
    cert = ca.sign_device_csr(device_csr(private, info.device_id), EVIDENCE,
                              device_id=info.device_id, days=days)
    pem = ca.chain_pem(cert)
    check_device_certificate(pem, [ca.root], device_id=info.device_id, purpose=EVIDENCE,
                             evidence_keys=key.public)
    write_file(path, pem)
    spool.write_device_info(DeviceInfo(info.device_id, info.public_key, pem.decode("ascii")))
    return path
