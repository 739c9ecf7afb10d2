"""Enrolling a unit: its keys, its certificates from the fleet CA, and its configuration.

``enroll_device`` makes (or, on re-enrolment, keeps) the unit's Ed25519 evidence key and its
ECDSA P-256 TLS key, has the CA certify both from CSRs, checks the result with
:mod:`firmware.evidence.certs` as the unit and the verifier will, and sets the unit's configuration.
Files in the unit's key directory (docs/provisioning.md):

    device.key    Ed25519 evidence-signing key (firmware.evidence.keys.DeviceKey format), 0600
    device.crt    its evidence certificate (+ the issuing CA, if any)
    tls.key       ECDSA P-256 key for the broker, 0600
    tls.crt       its TLS client certificate (+ the issuing CA, if any)
    fleet-ca.crt  the fleet's root CA: trusted for the broker and for verify
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.evidence.certs import EVIDENCE, TLS, CertifiedDevice, check_device_certificate
from firmware.evidence.keys import DeviceKey
from firmware.people import fields
from firmware.people.errors import FieldError
from provisioning import unit_config
from provisioning.ca import FleetCA, device_csr, key_pem, new_tls_key
from provisioning.errors import EnrolmentError
from provisioning.files import SERVICE_USER, hand_to_user, write_file, write_private

log = logging.getLogger(__name__)

DEVICE_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")     # as [device] id and the MQTT topics
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
EVIDENCE_KEY, EVIDENCE_CERT = "device.key", "device.crt"
TLS_KEY, TLS_CERT, FLEET_CA = "tls.key", "tls.crt", "fleet-ca.crt"


@dataclass(frozen=True)
class UnitSettings:
    """What the depot writes into the unit's configuration besides its identity files.
    Empty strings are left out (the unit keeps its current or default value)."""

    broker: str = ""       # mqtts://host:8883
    bucket: str = ""       # S3 bucket name
    endpoint: str = ""     # S3 endpoint URL ("" = AWS)
    org: str = ""          # branch codes (docs/people.md): org_code, channel_code, outlet_code
    channel: str = ""
    outlet: str = ""

    def check(self) -> None:
        """:class:`EnrolmentError` naming the first bad setting."""
        if self.broker:
            parts = urlsplit(self.broker)
            if parts.scheme not in ("mqtts", "mqtt") or not parts.hostname:
                raise EnrolmentError(f"--broker {self.broker!r}: give mqtts://HOST:PORT "
                                     "(mqtt:// only for development)")
        if self.bucket and not BUCKET.fullmatch(self.bucket):
            raise EnrolmentError(f"--bucket {self.bucket!r} is not an S3 bucket name "
                                 "(3-63 lowercase letters, digits, '.', '-')")
        if self.endpoint and not self.endpoint.startswith(("https://", "http://")):
            raise EnrolmentError(f"--endpoint {self.endpoint!r} must start with https://")
        try:
            for value, name, lo, hi in ((self.org, "--org", 2, 32),
                                        (self.channel, "--channel", 1, 16),
                                        (self.outlet, "--outlet", 2, 32)):
                if value:
                    fields.code(value, name, lo, hi)
        except FieldError as exc:
            raise EnrolmentError(str(exc)) from None


@dataclass
class Enrolment:
    """What :func:`enroll_device` made."""

    device_id: str
    key_dir: Path
    files: dict[str, Path]                 # name -> path written (this machine)
    evidence: CertifiedDevice
    tls: CertifiedDevice
    reused_keys: list[str] = field(default_factory=list)
    config: Path | None = None


def check_device_id(device_id: str) -> str:
    if not DEVICE_ID.fullmatch(device_id or ""):
        raise EnrolmentError(f"device id {device_id!r} must be 3-63 lowercase letters, digits "
                             "and '-', starting with a letter or digit")
    return device_id


def _evidence_key(path: Path, reused: list[str]) -> tuple[DeviceKey, Ed25519PrivateKey]:
    if path.exists():
        reused.append(path.name)
        log.info("%s exists: keeping this evidence key (its certificate is renewed)", path)
    key = DeviceKey.load_or_create(path)  # checks an existing file is 0600 and Ed25519
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    return key, private


def _tls_key(path: Path, reused: list[str]) -> ec.EllipticCurvePrivateKey:
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise EnrolmentError(f"{path} is readable by others; run: chmod 600 {path}")
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as exc:
            raise EnrolmentError(f"{path}: not a PEM private key ({exc})") from None
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise EnrolmentError(f"{path} is not an ECDSA key; move it away to make a new one")
        reused.append(path.name)
        log.info("%s exists: keeping this TLS key (its certificate is renewed)", path)
        return private
    private = new_tls_key()
    write_private(path, key_pem(private))
    return private


def enroll_device(ca: FleetCA, device_id: str, key_dir: str | os.PathLike, *,
                  settings: UnitSettings = UnitSettings(), config: str | os.PathLike | None = None,
                  unit_key_dir: str | os.PathLike | None = None, days: int = 3650,
                  owner: str = SERVICE_USER) -> Enrolment:
    """Enrol unit ``device_id``: keys and certificates into ``key_dir``, settings into the TOML
    file ``config`` (when given). ``unit_key_dir``: where ``key_dir`` will be on the unit, for
    the paths in its configuration (default: ``key_dir`` itself, enrolment on the unit).
    ``owner``: the service user the key directory is handed to, if it exists ("" = nobody)."""
    check_device_id(device_id)
    settings.check()
    key_dir = Path(key_dir).absolute()
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    reused: list[str] = []
    evidence_key, evidence_private = _evidence_key(key_dir / EVIDENCE_KEY, reused)
    tls_private = _tls_key(key_dir / TLS_KEY, reused)

    evidence_cert = ca.sign_device_csr(device_csr(evidence_private, device_id), EVIDENCE,
                                       device_id=device_id, days=days)
    tls_cert = ca.sign_device_csr(device_csr(tls_private, device_id), TLS,
                                  device_id=device_id, days=days)
    files = {EVIDENCE_KEY: key_dir / EVIDENCE_KEY, TLS_KEY: key_dir / TLS_KEY,
             EVIDENCE_CERT: write_file(key_dir / EVIDENCE_CERT, ca.chain_pem(evidence_cert)),
             TLS_CERT: write_file(key_dir / TLS_CERT, ca.chain_pem(tls_cert)),
             FLEET_CA: write_file(key_dir / FLEET_CA, ca.fleet_ca_pem)}

    # check what was written as the unit and `dualrec verify` will
    roots = [ca.root]
    evidence = check_device_certificate(files[EVIDENCE_CERT].read_bytes(), roots,
                                        device_id=device_id, purpose=EVIDENCE,
                                        evidence_keys=evidence_key.public)
    tls = check_device_certificate(files[TLS_CERT].read_bytes(), roots, device_id=device_id,
                                   purpose=TLS, tls_public_key=tls_private.public_key())
    hand_to_user([key_dir, *files.values()], owner)
    result = Enrolment(device_id, key_dir, files, evidence, tls, reused)
    if config is not None:
        result.config = write_unit_config(config, device_id,
                                          Path(unit_key_dir) if unit_key_dir else key_dir,
                                          settings)
    log.info("enrolled %s: evidence key %s, certificates serial %s (evidence) and %s (TLS)",
             device_id, evidence_key.public.fingerprint, evidence.serial, tls.serial)
    return result


def write_unit_config(path: str | os.PathLike, device_id: str, unit_key_dir: Path,
                      settings: UnitSettings) -> Path:
    """Set the identity, broker, bucket and branch keys in the unit's configuration. A bucket
    turns the upload on (``[sync] enabled``); the outlet code is also the branch the fleet
    agent reports (``[mqtt] branch``)."""
    d = unit_key_dir
    values: dict[str, dict[str, unit_config.Value]] = {
        "device": {"id": device_id, "key_file": str(d / EVIDENCE_KEY),
                   "certificate": str(d / EVIDENCE_CERT), "fleet_ca": str(d / FLEET_CA)},
        "mqtt": {"client_cert": str(d / TLS_CERT), "client_key": str(d / TLS_KEY),
                 "ca_file": str(d / FLEET_CA)},
    }
    if settings.broker:
        values["mqtt"]["url"] = settings.broker
    if settings.outlet:
        values["mqtt"]["branch"] = settings.outlet   # the code operators filter the fleet by
    sync: dict[str, unit_config.Value] = {
        k: v for k, v in (("endpoint", settings.endpoint), ("bucket", settings.bucket)) if v}
    if settings.bucket:
        sync["enabled"] = True
    branch = {k: v for k, v in (("org", settings.org), ("channel", settings.channel),
                                ("outlet", settings.outlet)) if v}
    if sync:
        values["sync"] = sync
    if branch:
        values["branch"] = branch
    return unit_config.set_values(path, values)
