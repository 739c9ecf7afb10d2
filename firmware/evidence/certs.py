"""Device certificates: does a unit's certificate tie it to the fleet?

The fleet CA (``dualrec-provision ca init``) issues each unit two certificates, both with
CN = the device id (docs/provisioning.md):

- the **evidence** certificate: the unit's Ed25519 evidence key, key usage digitalSignature +
  contentCommitment, extended key usage :data:`EVIDENCE_EKU` (and not TLS client auth). Its
  PEM is ``certificate`` in the spool's ``device/device.json``; ``dualrec verify --fleet-ca``
  checks it with :func:`check_spool_certificate`.
- the **TLS** certificate: an ECDSA P-256 key, extended key usage clientAuth; the broker takes
  its CN as the MQTT username (mosquitto ``use_identity_as_username``).

A certificate PEM may carry its chain: the unit's certificate first, then any issuing
(intermediate) CA certificates. The fleet CA file holds the trusted root(s). Every check raises
a :class:`CertificateError` whose ``reason`` is a short code and whose message says what is
wrong and with which certificate; nothing here prints or logs.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from firmware.errors import DualrecError
from firmware.evidence.keys import PublicKey

# A UUID-derived OID (ITU-T X.667, no registration needed): "dualrec evidence signing".
EVIDENCE_EKU = x509.ObjectIdentifier("2.25.214298835729476841081212790509688112014")
DEVICE_URN = "urn:dualrec:device:"     # subjectAltName URI of a unit: DEVICE_URN + device id
EVIDENCE = "evidence"
TLS = "tls"
PURPOSES = (EVIDENCE, TLS)
MAX_CHAIN = 4                          # unit certificate + at most 3 issuing CAs


class CertificateError(DualrecError, ValueError):
    """A certificate does not prove what it should. ``reason`` is a short code:
    ``malformed``, ``no_certificate``, ``untrusted``, ``expired``, ``not_yet_valid``,
    ``usage``, ``name_mismatch`` or ``key_mismatch``."""

    reason = "untrusted"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class CertificateFormatError(CertificateError):
    """Not a PEM certificate (chain), or a CA file holding no CA certificate."""

    reason = "malformed"


class UntrustedCertificateError(CertificateError):
    """The certificate does not chain to the fleet CA (another CA, a bad signature)."""

    reason = "untrusted"


class CertificateExpiredError(CertificateError):
    """A certificate of the chain is outside its validity dates (``expired`` or
    ``not_yet_valid``) at the time checked."""

    reason = "expired"


class CertificateMismatchError(CertificateError):
    """A valid certificate, but for another unit, another key or another use
    (``name_mismatch``, ``key_mismatch``, ``usage``)."""

    reason = "key_mismatch"


@dataclass(frozen=True)
class CertifiedDevice:
    """What a certificate that passed the checks says."""

    device_id: str
    purpose: str
    serial: str                 # hex
    not_before: dt.datetime     # UTC
    not_after: dt.datetime      # UTC
    issuer: str                 # the issuing CA's subject (RFC 4514)
    fingerprint: str            # SHA-256 of the unit certificate's DER, hex
    chain_length: int           # certificates from the unit's up to and including the root
    evidence_key: PublicKey | None   # the certified Ed25519 key (evidence certificates)


# -- loading -----------------------------------------------------------------------------------
def load_pem_chain(data: bytes | str, source: str = "certificate") -> list[x509.Certificate]:
    """Every certificate in a PEM text, in order (the unit's first). ``source`` names it in
    errors."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    if b"-----BEGIN CERTIFICATE-----" not in raw:
        raise CertificateFormatError(f"{source}: no PEM certificate in it")
    try:
        chain = x509.load_pem_x509_certificates(raw)
    except ValueError as exc:
        raise CertificateFormatError(f"{source}: not a PEM certificate ({exc})") from None
    if len(chain) > MAX_CHAIN:
        raise CertificateFormatError(f"{source}: {len(chain)} certificates; at most "
                                     f"{MAX_CHAIN} (the unit's and its issuing CAs)")
    return chain


def load_pem_chain_file(path: str | Path) -> list[x509.Certificate]:
    """:func:`load_pem_chain` of a file; a missing file is a :class:`CertificateFormatError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CertificateFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return load_pem_chain(data, str(path))


def load_fleet_ca(path: str | Path) -> list[x509.Certificate]:
    """The trusted fleet CA certificate(s) in a PEM file (several during a CA change-over);
    each must be a CA certificate."""
    cas = load_pem_chain_file(path)
    for cert in cas:
        if not _is_ca(cert):
            raise CertificateFormatError(f"{path}: {_subject(cert)} is not a CA certificate "
                                         "(basicConstraints CA:TRUE with keyCertSign)")
    return cas


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return bc.ca
    return bc.ca and ku.key_cert_sign


def certificate_cn(cert: x509.Certificate) -> str:
    """The subject's common name ("" when there is none)."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


# -- the checks --------------------------------------------------------------------------------
def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _build_path(chain: list[x509.Certificate], anchors: list[x509.Certificate]
                ) -> list[x509.Certificate]:
    """From the unit's certificate up to a trusted anchor, through the chain's issuing CAs."""
    path = [chain[0]]
    pool = list(chain[1:])
    while len(path) <= MAX_CHAIN:
        current = path[-1]
        anchor = next((a for a in anchors if _is_ca(a) and _issued_by(current, a)), None)
        if anchor is not None:
            return path + [anchor]
        issuer = next((c for c in pool if c not in path and _issued_by(current, c)), None)
        if issuer is None:
            break
        if not _is_ca(issuer):
            raise UntrustedCertificateError(f"{_subject(issuer)} issued {_subject(current)} "
                                            "but is not a CA certificate")
        path.append(issuer)
    trusted = "; ".join(_subject(a) for a in anchors)
    issuer_name = chain[0].issuer.rfc4514_string()
    raise UntrustedCertificateError(f"{_subject(chain[0])} (issuer {issuer_name}) does not chain "
                                    f"to the fleet CA ({trusted}): it was issued by another "
                                    "CA, or its signature does not verify")


def _check_dates(path: list[x509.Certificate], at: dt.datetime, validity: bool) -> None:
    for cert in path if validity else ():
        if at < cert.not_valid_before_utc:
            raise CertificateExpiredError(f"{_subject(cert)} is not valid before "
                                          f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC "
                                          f"(checked at {at:%Y-%m-%d %H:%M:%S} UTC)",
                                          "not_yet_valid")
        if at > cert.not_valid_after_utc:
            raise CertificateExpiredError(f"{_subject(cert)} expired on "
                                          f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC "
                                          f"(checked at {at:%Y-%m-%d %H:%M:%S} UTC)", "expired")
    for index, cert in enumerate(path[1:]):
        bc = _ext(cert, x509.BasicConstraints)
        if bc is not None and bc.path_length is not None and index > bc.path_length:
            raise UntrustedCertificateError(f"{_subject(cert)} may not issue through "
                                            f"{index} intermediate CAs (pathlen {bc.path_length})")


def _ext(cert: x509.Certificate, cls: type) -> object | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _check_usage(cert: x509.Certificate, purpose: str) -> None:
    what = _subject(cert)
    bc = _ext(cert, x509.BasicConstraints)
    if bc is not None and bc.ca:
        raise CertificateMismatchError(f"{what} is a CA certificate, not a unit's", "usage")
    ku = _ext(cert, x509.KeyUsage)
    eku = _ext(cert, x509.ExtendedKeyUsage)
    usages = list(eku) if eku is not None else []
    if purpose == EVIDENCE:
        if not isinstance(cert.public_key(), Ed25519PublicKey):
            raise CertificateMismatchError(f"{what}: an evidence certificate holds an Ed25519 "
                                           f"key, not {type(cert.public_key()).__name__}", "usage")
        if ku is None or not (ku.digital_signature or ku.content_commitment):
            raise CertificateMismatchError(f"{what}: key usage does not allow signing "
                                           "(digitalSignature or contentCommitment)", "usage")
        if EVIDENCE_EKU not in usages:
            raise CertificateMismatchError(f"{what}: not issued for evidence signing "
                                           f"(extended key usage {EVIDENCE_EKU.dotted_string} "
                                           "missing)", "usage")
    elif purpose == TLS:
        if not isinstance(cert.public_key(), ec.EllipticCurvePublicKey):
            raise CertificateMismatchError(f"{what}: a TLS certificate holds an ECDSA key",
                                           "usage")
        if ku is not None and not ku.digital_signature:
            raise CertificateMismatchError(f"{what}: key usage lacks digitalSignature", "usage")
        if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            raise CertificateMismatchError(f"{what}: not issued for TLS client authentication "
                                           "(extended key usage clientAuth missing)", "usage")
    else:
        raise ValueError(f"purpose {purpose!r} must be one of {', '.join(PURPOSES)}")


def _check_name(cert: x509.Certificate, device_id: str) -> None:
    cn = certificate_cn(cert)
    if cn != device_id:
        raise CertificateMismatchError(f"{_subject(cert)} is for {cn!r}, not device "
                                       f"{device_id!r}", "name_mismatch")
    san = _ext(cert, x509.SubjectAlternativeName)
    if san is not None:
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
            if uri.startswith(DEVICE_URN) and uri != DEVICE_URN + device_id:
                raise CertificateMismatchError(f"{_subject(cert)}: subjectAltName {uri} is not "
                                               f"device {device_id!r}", "name_mismatch")


def _raw_ed25519(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.Raw,
                                          serialization.PublicFormat.Raw)


def check_device_certificate(chain: list[x509.Certificate] | bytes | str,
                             fleet_ca: list[x509.Certificate], *, device_id: str,
                             purpose: str = EVIDENCE,
                             evidence_keys: Iterable[PublicKey] | PublicKey = (),
                             tls_public_key: ec.EllipticCurvePublicKey | None = None,
                             at: dt.datetime | None = None,
                             check_dates: bool = True) -> CertifiedDevice:
    """Check a unit's certificate (chain) against the fleet CA; raises a
    :class:`CertificateError` naming the first problem.

    Checked: the signatures up to one of ``fleet_ca``; every certificate's validity dates at
    ``at`` (UTC; default now; ``check_dates=False`` skips them, for a unit whose clock is not
    yet set after boot: a Raspberry Pi has no RTC); the key usage of ``purpose``; CN (and any
    ``urn:dualrec:device`` subjectAltName) = ``device_id``. For an evidence certificate the
    certified Ed25519 key must be one of ``evidence_keys`` (when given: the spool's genesis key
    and its rotations); for a TLS certificate its key must be ``tls_public_key`` (when given).
    """
    if not fleet_ca:
        raise CertificateFormatError("no fleet CA certificate given")
    certs = chain if isinstance(chain, list) else load_pem_chain(chain)
    if not certs:
        raise CertificateError("no certificate", "no_certificate")
    at = at or dt.datetime.now(dt.timezone.utc)
    if at.tzinfo is None:
        raise ValueError("at must be a timezone-aware datetime (UTC)")
    leaf = certs[0]
    path = _build_path(certs, fleet_ca)
    _check_dates(path, at, check_dates)
    _check_usage(leaf, purpose)
    _check_name(leaf, device_id)
    certified: PublicKey | None = None
    if purpose == EVIDENCE:
        certified = PublicKey(_raw_ed25519(leaf))
        keys = [evidence_keys] if isinstance(evidence_keys, PublicKey) else list(evidence_keys)
        if keys and certified not in keys:
            wanted = ", ".join(k.fingerprint[:16] + "…" for k in keys)
            raise CertificateMismatchError(f"{_subject(leaf)} certifies key "
                                           f"{certified.fingerprint[:16]}…, which is not the "
                                           f"evidence key of this unit ({wanted})",
                                           "key_mismatch")
    elif tls_public_key is not None and leaf.public_key() != tls_public_key:
        raise CertificateMismatchError(f"{_subject(leaf)} is not the certificate of the TLS key "
                                       "given", "key_mismatch")
    return CertifiedDevice(
        device_id=device_id, purpose=purpose, serial=f"{leaf.serial_number:x}",
        not_before=leaf.not_valid_before_utc, not_after=leaf.not_valid_after_utc,
        issuer=leaf.issuer.rfc4514_string(),
        fingerprint=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        chain_length=len(path), evidence_key=certified)


def check_spool_certificate(certificate_pem: str | None, fleet_ca: list[x509.Certificate], *,
                            device_id: str, evidence_keys: Iterable[PublicKey],
                            at: dt.datetime | None = None) -> CertifiedDevice:
    """The verifier's check of ``device/device.json``: its ``certificate`` (PEM, or None when
    the unit was never enrolled) must be an evidence certificate from the fleet CA for
    ``device_id`` certifying one of ``evidence_keys`` (the chain's genesis key and the keys its
    verified KEY rotations introduced). ``at``: the time the certificate must have been valid,
    normally the wall time of the chain's newest record."""
    if not certificate_pem:
        raise CertificateError("device/device.json holds no device certificate (the unit was "
                               "not enrolled with dualrec-provision)", "no_certificate")
    chain = load_pem_chain(certificate_pem, "device/device.json certificate")
    return check_device_certificate(chain, fleet_ca, device_id=device_id, purpose=EVIDENCE,
                                    evidence_keys=list(evidence_keys), at=at)
