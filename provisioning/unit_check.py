"""Checking an enrolled unit's identity files as the unit, the broker and the verifier will:
``dualrec-provision device check``, run at the depot after enrolment or by a technician."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from firmware.evidence.certs import (EVIDENCE, TLS, CertifiedDevice, check_device_certificate,
                            load_fleet_ca, load_pem_chain_file)
from firmware.evidence.keys import DeviceKey
from provisioning.errors import ProvisioningError


@dataclass(frozen=True)
class UnitFiles:
    """The identity files of one unit (paths on this machine); empty = not configured."""

    device_id: str
    fleet_ca: str
    key_file: str
    certificate: str
    tls_cert: str = ""
    tls_key: str = ""


def _tls_public(path: str) -> ec.EllipticCurvePublicKey:
    p = Path(path)
    if p.stat().st_mode & 0o077:
        raise ProvisioningError(f"{p} is readable by others; run: chmod 600 {p}")
    try:
        private = serialization.load_pem_private_key(p.read_bytes(), password=None)
    except ValueError as exc:
        raise ProvisioningError(f"{p}: not a PEM private key ({exc})") from None
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ProvisioningError(f"{p}: not an ECDSA key")
    return private.public_key()


def check_unit(files: UnitFiles, *, at: dt.datetime | None = None) -> list[CertifiedDevice]:
    """Check the evidence certificate against the evidence key and, when configured, the TLS
    certificate against the TLS key, both against the fleet CA for the device id.
    :class:`~firmware.evidence.certs.CertificateError`: a certificate is refused;
    :class:`ProvisioningError` or OSError: a file is missing or unusable."""
    for name in ("device_id", "fleet_ca", "key_file", "certificate"):
        if not getattr(files, name):
            raise ProvisioningError(f"the unit's {name} is not configured (enrol it first)")
    roots = load_fleet_ca(files.fleet_ca)
    try:
        key = DeviceKey.load(files.key_file)
    except (OSError, ValueError) as exc:
        raise ProvisioningError(f"evidence key {files.key_file}: {exc}") from None
    done = [check_device_certificate(load_pem_chain_file(files.certificate), roots,
                                     device_id=files.device_id, purpose=EVIDENCE,
                                     evidence_keys=key.public, at=at)]
    if files.tls_cert or files.tls_key:
        if not (files.tls_cert and files.tls_key):
            raise ProvisioningError("give both the TLS certificate and the TLS key")
        done.append(check_device_certificate(load_pem_chain_file(files.tls_cert), roots,
                                              device_id=files.device_id, purpose=TLS,
                                              tls_public_key=_tls_public(files.tls_key), at=at))
    return done

