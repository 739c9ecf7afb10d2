"""The fleet certificate authority: a root, optionally an issuing CA under it, and the
certificates it issues (units' evidence and TLS certificates, the broker's server certificate).

A CA directory holds ``ca.key`` (ECDSA P-256, PEM, mode 0600), ``ca.crt`` (this CA) and
``fleet-ca.crt`` (the root everyone trusts: units, broker, verifiers; for a root CA the same
as ``ca.crt``). ECDSA P-256 because the broker (mosquitto, OpenSSL) and every TLS client speak
it; the units' evidence keys are Ed25519 and are certified by this ECDSA CA all the same.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from firmware.evidence.certs import DEVICE_URN, EVIDENCE, EVIDENCE_EKU, PURPOSES, TLS, certificate_cn
from provisioning.errors import CAError
from provisioning.files import write_file, write_private

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
FLEET_CA = "fleet-ca.crt"
CLOCK_SKEW = dt.timedelta(minutes=5)   # certificates start this much before "now"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _name(cn: str, org: str = "") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """An ECDSA private key as unencrypted PKCS#8 PEM (file mode 0600 protects it)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def new_tls_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _ca_extensions(builder: x509.CertificateBuilder, public: ec.EllipticCurvePublicKey,
                   path_length: int | None) -> x509.CertificateBuilder:
    return (builder
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))


def _leaf_usage(purpose: str) -> tuple[x509.KeyUsage, list[x509.ObjectIdentifier]]:
    signing = purpose == EVIDENCE
    ku = x509.KeyUsage(digital_signature=True, content_commitment=signing,
                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                       key_cert_sign=False, crl_sign=False, encipher_only=False,
                       decipher_only=False)
    eku = {EVIDENCE: [EVIDENCE_EKU], TLS: [ExtendedKeyUsageOID.CLIENT_AUTH],
           "server": [ExtendedKeyUsageOID.SERVER_AUTH]}[purpose]
    return ku, eku


@dataclass
class FleetCA:
    """A CA that can issue: its key, its certificate, and the root the fleet trusts."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    root: x509.Certificate
    path: Path | None = None

    # -- making and keeping CAs --------------------------------------------------------------
    @classmethod
    def create_root(cls, name: str = "dualrec development fleet CA", *, org: str = "",
                    days: int = 3650) -> "FleetCA":
        """A new self-signed root CA (ECDSA P-256) that may have one level of issuing CAs."""
        key = new_tls_key()
        now = _now()
        subject = _name(name, org)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - CLOCK_SKEW)
                   .not_valid_after(now + dt.timedelta(days=days)))
        cert = _ca_extensions(builder, key.public_key(), 1).sign(key, hashes.SHA256())
        return cls(key, cert, cert)

    @property
    def is_root(self) -> bool:
        return self.cert == self.root

    def create_issuing(self, name: str, *, org: str = "", days: int = 1825) -> "FleetCA":
        """An issuing CA signed by this root, for a depot, so the root key can stay offline."""
        if not self.is_root:
            raise CAError(f"{certificate_cn(self.cert)} is an issuing CA; only the root makes "
                          "issuing CAs (one level)")
        key = new_tls_key()
        now = _now()
        builder = (x509.CertificateBuilder().subject_name(_name(name, org))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - CLOCK_SKEW).not_valid_after(self._until(days))
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.key.public_key()), critical=False))
        cert = _ca_extensions(builder, key.public_key(), 0).sign(self.key, hashes.SHA256())
        return FleetCA(key, cert, self.root)

    def save(self, directory: str | os.PathLike) -> list[Path]:
        """Write ``ca.key`` (0600, never over an existing one), ``ca.crt``, ``fleet-ca.crt``."""
        directory = Path(directory)
        if (directory / CA_KEY).exists():
            raise CAError(f"{directory / CA_KEY} exists already; a CA key is never overwritten "
                          "(choose another directory)")
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        written = [write_private(directory / CA_KEY, key_pem(self.key)),
                   write_file(directory / CA_CERT, _pem(self.cert)),
                   write_file(directory / FLEET_CA, _pem(self.root))]
        self.path = directory
        return written

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "FleetCA":
        """The CA in ``directory``; refused when its key is readable by others."""
        directory = Path(directory)
        try:
            mode = (directory / CA_KEY).stat().st_mode & 0o777
            if mode & 0o077:
                raise CAError(f"{directory / CA_KEY} is readable by others (mode {mode:04o}); "
                              f"run: chmod 600 {directory / CA_KEY}")
            key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), None)
            cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
            root = x509.load_pem_x509_certificate((directory / FLEET_CA).read_bytes())
        except FileNotFoundError as exc:
            raise CAError(f"{directory}: not a CA directory ({exc.filename} is missing; make "
                          "one with `dualrec-provision ca init`)") from None
        except (OSError, ValueError) as exc:
            raise CAError(f"{directory}: unusable CA files ({exc})") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
            raise CAError(f"{directory}: {CA_KEY} is not the key of {CA_CERT}")
        return cls(key, cert, root, directory)

    # -- issuing -----------------------------------------------------------------------------
    def _until(self, days: int) -> dt.datetime:
        """``days`` from now, but never past this CA's own end."""
        if days < 1:
            raise CAError(f"validity of {days} days: give at least 1")
        return min(_now() + dt.timedelta(days=days), self.cert.not_valid_after_utc)

    def _issue(self, subject: x509.Name, public, purpose: str, san: list[x509.GeneralName],
               days: int) -> x509.Certificate:
        ku, eku = _leaf_usage(purpose)
        start = _now() - CLOCK_SKEW
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
                   .public_key(public).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(self._until(days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                   .add_extension(ku, critical=True)
                   .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
                   .add_extension(x509.SubjectAlternativeName(san), critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.key.public_key()), critical=False))
        return builder.sign(self.key, hashes.SHA256())

    def sign_device_csr(self, csr: x509.CertificateSigningRequest, purpose: str, *,
                        device_id: str, days: int = 3650) -> x509.Certificate:
        """Certify a unit's key from its CSR (which proves the unit holds the key).
        ``purpose``: ``evidence`` (an Ed25519 key) or ``tls`` (an ECDSA P-256 key); the CN
        must be ``device_id``. Extensions asked for in the CSR are ignored: the CA sets them."""
        if purpose not in PURPOSES:
            raise CAError(f"purpose {purpose!r} must be one of {', '.join(PURPOSES)}")
        if not csr.is_signature_valid:
            raise CAError("the CSR's signature does not verify (it does not prove the key)")
        cn = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if cn != [device_id]:
            raise CAError(f"the CSR is for {cn!r}, not device {device_id!r}")
        public = csr.public_key()
        wanted = Ed25519PublicKey if purpose == EVIDENCE else ec.EllipticCurvePublicKey
        if not isinstance(public, wanted):
            raise CAError(f"a {purpose} certificate needs a {wanted.__name__[:-9]} key, the "
                          f"CSR has {type(public).__name__}")
        san = [x509.UniformResourceIdentifier(DEVICE_URN + device_id)]
        return self._issue(_name(device_id), public, purpose, san, days)

    def issue_server(self, public: ec.EllipticCurvePublicKey, hosts: list[str], *,
                     days: int = 825) -> x509.Certificate:
        """The broker's certificate: CN = the first host, each host (DNS name or IP) in the
        subjectAltName, extended key usage serverAuth."""
        if not hosts:
            raise CAError("give at least one host name or IP address for the broker")
        san: list[x509.GeneralName] = []
        for host in hosts:
            try:
                san.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                san.append(x509.DNSName(host))
        return self._issue(_name(hosts[0]), public, "server", san, days)

    def chain_pem(self, cert: x509.Certificate) -> bytes:
        """``cert`` followed by this CA when it is an issuing CA (the root is never sent)."""
        return _pem(cert) + (b"" if self.is_root else _pem(self.cert))

    @property
    def fleet_ca_pem(self) -> bytes:
        return _pem(self.root)


def device_csr(private_key, device_id: str) -> x509.CertificateSigningRequest:
    """A CSR for ``device_id`` signed by the unit's key (Ed25519 or ECDSA)."""
    algorithm = None if not isinstance(private_key, ec.EllipticCurvePrivateKey) \
        else hashes.SHA256()
    return (x509.CertificateSigningRequestBuilder().subject_name(_name(device_id))
            .sign(private_key, algorithm))
