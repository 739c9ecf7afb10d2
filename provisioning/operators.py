"""The operators' certificate authority and operator certificates (docs/provisioning.md §9).

The broker's operators' listener trusts this CA and nothing else, and the units' listener
trusts only the fleet CA (:mod:`provisioning.ca`): a unit's certificate cannot open an operator
connection, nor an operator's a unit's. Both listeners share one ACL in which the MQTT username
is the certificate's CN, so the names must never meet: a unit's CN is its device id (no
``.``), an operator's CN always contains a ``.`` (``ops.fleet``, ``alice.ops``). The fleet CA
never issues a dotted CN; this CA issues nothing else.

A directory of this CA holds ``ca.key`` (ECDSA P-256, 0600, never overwritten) and
``operators-ca.crt`` (the broker's ``cafile`` for the operators' listener). It has no
``fleet-ca.crt``, and a fleet CA has no ``operators-ca.crt``, so neither is taken for the
other.

An operator certificate: CN = the operator's name, subjectAltName URI
``urn:dualrec:operator:<name>``, key usage digitalSignature, extended key usage clientAuth
only (it can log in to a broker, sign nothing else, and serve nothing), 825 days by default.
The key is made here, or stays with the operator: give their CSR instead.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from firmware.errors import DualrecError
from firmware.evidence import durable
from provisioning.ca import CA_KEY, FLEET_CA, key_pem, new_tls_key
from provisioning.errors import CAError, ProvisioningError
from provisioning.files import write_file, write_private

OPERATORS_CA = "operators-ca.crt"
OPERATOR_URN = "urn:dualrec:operator:"
OPERATOR_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?"
                           r"(?:\.[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?)+")
MAX_NAME = 64
CLOCK_SKEW = dt.timedelta(minutes=5)
ACL_LINES = ("topic read dualrec/v1/devices/#",
             "topic write dualrec/v1/devices/+/cmd",
             "topic write dualrec/v1/devices/+/config/desired")


def check_operator_name(name: str) -> str:
    """``name`` if it may be an operator's CN (and MQTT username); else ProvisioningError."""
    if not isinstance(name, str) or len(name) > MAX_NAME or not OPERATOR_NAME.fullmatch(name):
        raise ProvisioningError(
            f"operator name {name!r}: give lowercase letters, digits and '-' in labels joined "
            f"by '.', with at least one '.' (e.g. ops.fleet, alice.ops), at most {MAX_NAME} "
            "characters; the '.' keeps it apart from every unit's id, and MQTT wildcards "
            "(+ # /) are never allowed in a username the ACL uses")
    return name


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _subject(cn: str, org: str = "") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


@dataclass
class OperatorsCA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    path: Path | None = None

    @classmethod
    def create(cls, name: str = "dualrec operators CA", *, org: str = "",
               days: int = 3650) -> "OperatorsCA":
        """A new self-signed CA (ECDSA P-256) that issues operator certificates only."""
        if days < 1:
            raise CAError(f"validity of {days} days: give at least 1")
        key = new_tls_key()
        now = _now()
        subject = _subject(name, org)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    def save(self, directory: str | os.PathLike) -> list[Path]:
        """``ca.key`` (0600, never over an existing one) and ``operators-ca.crt``."""
        directory = Path(directory)
        if durable.lkind(directory / CA_KEY) != "missing":
            raise CAError(f"{directory / CA_KEY} exists already; a CA key is never "
                          "overwritten (choose another directory)")
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        written = [write_private(directory / CA_KEY, key_pem(self.key)),
                   write_file(directory / OPERATORS_CA,
                              self.cert.public_bytes(serialization.Encoding.PEM))]
        self.path = directory
        return written

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "OperatorsCA":
        """The operators' CA in ``directory``; a fleet CA's directory is refused."""
        directory = Path(directory)
        if not (directory / OPERATORS_CA).is_file():
            if (directory / FLEET_CA).exists():
                raise CAError(f"{directory} is the fleet CA (units, broker), not the operators' "
                              "CA: operator certificates come from a CA of their own "
                              "(dualrec-provision operator ca-init)")
            raise CAError(f"{directory}: not an operators' CA ({OPERATORS_CA} is missing; make "
                          "one with `dualrec-provision operator ca-init`)")
        try:
            mode = (directory / CA_KEY).stat().st_mode & 0o777
            if mode & 0o077:
                raise CAError(f"{directory / CA_KEY} is readable by others (mode {mode:04o}); "
                              f"run: chmod 600 {directory / CA_KEY}")
            key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), None)
            cert = x509.load_pem_x509_certificate((directory / OPERATORS_CA).read_bytes())
        except FileNotFoundError as exc:
            raise CAError(f"{directory}: {exc.filename} is missing") from None
        except (OSError, ValueError) as exc:
            raise CAError(f"{directory}: unusable CA files ({exc})") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
            raise CAError(f"{directory}: {CA_KEY} is not the key of {OPERATORS_CA}")
        return cls(key, cert, directory)

    def issue(self, name: str, public: ec.EllipticCurvePublicKey, *, org: str = "",
              days: int = 825) -> x509.Certificate:
        """An operator's certificate for ``public`` (ECDSA P-256), CN = ``name``."""
        check_operator_name(name)
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
            raise ProvisioningError("an operator's key must be ECDSA P-256 (what mosquitto, "
                                    "EMQX and every TLS client speak)")
        if days < 1:
            raise CAError(f"validity of {days} days: give at least 1")
        end = min(_now() + dt.timedelta(days=days), self.cert.not_valid_after_utc)
        return (x509.CertificateBuilder().subject_name(_subject(name, org))
                .issuer_name(self.cert.subject).public_key(public)
                .serial_number(x509.random_serial_number())
                .not_valid_before(_now() - CLOCK_SKEW).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(OPERATOR_URN + name)]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))


@dataclass(frozen=True)
class IssuedOperator:
    name: str
    certificate: Path
    key: Path | None          # None: the operator keeps the key (a CSR was given)
    not_after: dt.datetime


def issue_operator(ca: OperatorsCA, name: str, out: str | os.PathLike, *,
                   csr: bytes | None = None, org: str = "", days: int = 825) -> IssuedOperator:
    """Write ``<name>.crt`` (and ``<name>.key``, 0600, unless ``csr`` gives the operator's own
    key) into ``out``. A CSR must be signed by its key and name the operator."""
    check_operator_name(name)
    out = Path(out)
    key_path = None
    if csr is not None:
        try:
            request = x509.load_pem_x509_csr(csr)
        except ValueError as exc:
            raise ProvisioningError(f"the CSR is not a PEM certificate request ({exc})") from None
        if not request.is_signature_valid:
            raise ProvisioningError("the CSR's signature does not verify (it does not prove "
                                    "the key)")
        cns = [a.value for a in request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if cns not in ([], [name]):
            raise ProvisioningError(f"the CSR is for {cns!r}, not the operator {name!r}")
        public = request.public_key()
    else:
        key = new_tls_key()
        public = key.public_key()
        key_path = write_private(out / f"{name}.key", key_pem(key))
    cert = ca.issue(name, public, org=org, days=days)
    cert_path = write_file(out / f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM))
    return IssuedOperator(name, cert_path, key_path, cert.not_valid_after_utc)


def acl_block(name: str) -> str:
    """The mosquitto ACL lines that make ``name`` an operator (config/mosquitto/acl)."""
    check_operator_name(name)
    return "\n".join([f"user {name}", *ACL_LINES]) + "\n"


def add_to_acl(acl: str | os.PathLike, name: str) -> bool:
    """Append ``name``'s operator block to the ACL file unless it has one; True if added.
    The file is replaced atomically; mosquitto reads it again on SIGHUP."""
    path = Path(acl)
    text = durable.read_regular(path, 1 << 20).decode("utf-8")
    if re.search(rf"^user {re.escape(name)}$", text, re.M):
        return False
    text = text if text.endswith("\n") else text + "\n"
    st = path.stat()
    durable.write_atomic(path, (text + "\n" + acl_block(name)).encode("utf-8"),
                         st.st_mode & 0o777)
    if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
        os.chown(path, st.st_uid, st.st_gid)      # the broker's group must still read it
    return True


# -- dualrec-provision operator ... ----------------------------------------------------------
def _fail(command: str, exc: BaseException) -> int:
    print(f"dualrec-provision operator {command}: {exc}", file=sys.stderr)
    return 2


def cmd_ca_init(args: argparse.Namespace) -> int:
    try:
        ca = OperatorsCA.create(args.name, org=args.org, days=args.days)
        ca.save(args.out)
    except (DualrecError, OSError) as exc:
        return _fail("ca-init", exc)
    print(f"operators' CA {args.name!r} in {args.out}: {CA_KEY} (mode 0600: keep it offline), "
          f"{OPERATORS_CA} (the broker's cafile for the operators' listener); valid until "
          f"{ca.cert.not_valid_after_utc:%Y-%m-%d}")
    return 0


def cmd_issue(args: argparse.Namespace) -> int:
    try:
        ca = OperatorsCA.load(args.ca)
        csr = Path(args.csr).read_bytes() if args.csr else None
        issued = issue_operator(ca, args.name, args.out, csr=csr, org=args.org, days=args.days)
        added = add_to_acl(args.acl, args.name) if args.acl else None
    except (DualrecError, OSError) as exc:
        return _fail("issue", exc)
    print(f"operator {issued.name}: {issued.certificate}"
          + (f", {issued.key} (mode 0600)" if issued.key else " (the key stays with the "
             "operator)") + f"; valid until {issued.not_after:%Y-%m-%d}; MQTT username "
          f"{issued.name}")
    if added is None:
        print("add to the broker's ACL (then reload it: systemctl reload mosquitto, or "
              "kill -HUP):\n" + acl_block(args.name), end="")
    else:
        print(f"ACL {args.acl}: " + ("operator block added; reload the broker (systemctl "
                                     "reload mosquitto, or kill -HUP)" if added
                                     else "already names this operator"))
    return 0


def add_operator_parser(sub: Any) -> None:
    """``dualrec-provision operator ca-init|issue``."""
    op = sub.add_parser("operator", help="the operators' CA and operator certificates "
                        "(dualrec-fleet, dashboards, witness collectors)")
    os_ = op.add_subparsers(dest="operator_command", required=True)
    i = os_.add_parser("ca-init", help="create the operators' CA (ECDSA P-256), apart from "
                       "the fleet CA")
    i.add_argument("--out", required=True, help="directory for ca.key (0600) and "
                   "operators-ca.crt; an existing CA key there is never overwritten")
    i.add_argument("--name", default="dualrec operators CA", help="the CA's CN")
    i.add_argument("--org", default="", help="organisation (O) in the CA's name")
    i.add_argument("--days", type=int, default=3650, help="validity (default 3650)")
    i.set_defaults(func=cmd_ca_init)
    s = os_.add_parser("issue", help="issue an operator's client certificate (CN = the "
                       "operator's name, with a '.'; extended key usage clientAuth)")
    s.add_argument("--ca", required=True, help="the operators' CA directory")
    s.add_argument("--name", required=True, help="the operator: e.g. ops.fleet, alice.ops "
                   "(its MQTT username)")
    s.add_argument("--out", required=True, help="directory for <name>.crt (and <name>.key)")
    s.add_argument("--csr", help="the operator's CSR (PEM): their key never leaves them")
    s.add_argument("--org", default="")
    s.add_argument("--days", type=int, default=825, help="validity (default 825)")
    s.add_argument("--acl", help="the broker's ACL file: add the operator's block to it")
    s.set_defaults(func=cmd_issue)
