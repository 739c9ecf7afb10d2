"""Session keys wrapped to the insurer (X25519, RSA-OAEP), key files, and the CLI hook."""
from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from firmware.evidence.crypto import (KeyForgottenError, KeyUnwrapError, SessionKey, WrongKeyError,
                             fingerprint, generate_insurer_key, load_insurer_private_key,
                             load_insurer_public_key, unwrap, wrap)
from firmware.cli.crypto import add_insurer_key_parser
from firmware.errors import DualrecError, KeyFileError


@pytest.mark.parametrize("alg", ["x25519", "rsa"])
def test_wrap_and_unwrap(insurer_keys, alg):
    public, private = insurer_keys[alg]
    key = SessionKey.generate()
    doc = wrap(key, public)
    doc = json.loads(json.dumps(doc))                # JSON-able, and survives it
    assert doc["algorithm"] == {"x25519": "X25519-HKDF-SHA256-A256GCM",
                                "rsa": "RSA-OAEP-SHA256"}[alg]
    assert doc["key_id"] == key.key_id_hex
    assert doc["insurer_key_fingerprint"] == fingerprint(public)
    assert ("ephemeral_public_key" in doc) == (alg == "x25519")
    assert key.secret().hex() not in json.dumps(doc)
    assert base64.b64encode(key.secret()).decode() not in json.dumps(doc)
    assert unwrap(doc, private) == key
    assert wrap(key, public)["wrapped_key"] != doc["wrapped_key"]  # fresh randomness


@pytest.mark.parametrize("alg", ["x25519", "rsa"])
def test_another_insurer_key_is_refused(insurer_keys, tmp_path, alg):
    public, _ = insurer_keys[alg]
    other = generate_insurer_key(tmp_path, alg, rsa_bits=2048)
    doc = wrap(SessionKey.generate(), public)
    with pytest.raises(WrongKeyError, match=f"wrapped to insurer key {fingerprint(public)}; "
                       f"the key given is {other.fingerprint}"):
        unwrap(doc, load_insurer_private_key(other.private_path))
    wrong_kind = insurer_keys["rsa" if alg == "x25519" else "x25519"][1]
    with pytest.raises(WrongKeyError):
        unwrap(doc, wrong_kind)


@pytest.mark.parametrize("alg,field", [
    ("x25519", "wrapped_key"), ("x25519", "ephemeral_public_key"), ("x25519", "nonce"),
    ("x25519", "key_id"), ("rsa", "wrapped_key"), ("rsa", "key_id")])
def test_a_changed_document_is_refused(insurer_keys, alg, field):
    public, private = insurer_keys[alg]
    doc = wrap(SessionKey.generate(), public)
    bad = copy.deepcopy(doc)
    if field == "key_id":
        bad[field] = "0" * 32
    else:
        raw = bytearray(base64.b64decode(bad[field]))
        raw[len(raw) // 2] ^= 0x04
        bad[field] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(KeyUnwrapError, match="changed|does not open"):
        unwrap(bad, private, where="sessions/x/session-key.json")


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(format="other"), "not a dualrec-session-key document"),
    (lambda d: d.update(version=2), "version 1"),
    (lambda d: d.update(algorithm="ROT13"), "unknown wrapping algorithm"),
    (lambda d: d.pop("wrapped_key"), "'wrapped_key' is missing"),
    (lambda d: d.update(wrapped_key="%%%"), "not base64"),
])
def test_a_malformed_document_is_refused(insurer_keys, mutate, message):
    public, private = insurer_keys["x25519"]
    doc = wrap(SessionKey.generate(), public)
    mutate(doc)
    with pytest.raises(KeyUnwrapError, match=message) as info:
        unwrap(doc, private, where="S/session-key.json")
    assert "S/session-key.json" in str(info.value) and isinstance(info.value, DualrecError)
    with pytest.raises(KeyUnwrapError):
        unwrap([doc], private)


def test_a_forgotten_key_cannot_be_used_or_wrapped(insurer_keys):
    key = SessionKey.generate()
    with key:
        pass
    for call in (key.cipher, key.secret, lambda: wrap(key, insurer_keys["x25519"][0])):
        with pytest.raises(KeyForgottenError, match="forgotten"):
            call()


def test_generate_writes_a_private_key_only_its_owner_reads(tmp_path):
    made = generate_insurer_key(tmp_path / "k", "x25519")
    assert stat.S_IMODE(made.private_path.stat().st_mode) == 0o600
    assert made.public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert fingerprint(load_insurer_public_key(made.public_path)) == made.fingerprint
    with pytest.raises(KeyFileError, match="exists already"):
        generate_insurer_key(tmp_path / "k", "x25519")


def test_key_file_errors_name_the_file(tmp_path):
    made = generate_insurer_key(tmp_path, "x25519")
    missing = tmp_path / "nope.pem"
    with pytest.raises(KeyFileError, match=f"{missing}: no such file"):
        load_insurer_public_key(missing)
    with pytest.raises(KeyFileError, match=f"{missing}: no such file"):
        load_insurer_private_key(missing)
    with pytest.raises(KeyFileError, match="only the insurer's PUBLIC key"):
        load_insurer_public_key(made.private_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    with pytest.raises(KeyFileError, match=f"{garbage}: not a PEM public key"):
        load_insurer_public_key(garbage)
    os.chmod(made.private_path, 0o644)
    with pytest.raises(KeyFileError, match=f"readable by others .*chmod 600 {made.private_path}"):
        load_insurer_private_key(made.private_path)


def test_encrypted_private_key_and_certificate(tmp_path):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "insurer-rsa.key"
    path.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="encrypted; give its passphrase"):
        load_insurer_private_key(path)
    assert load_insurer_private_key(path, b"secret").key_size == 2048
    cert = _self_signed(private)
    cert_path = tmp_path / "insurer.crt"
    cert_path.write_bytes(cert)
    assert fingerprint(load_insurer_public_key(cert_path)) == fingerprint(private.public_key())


def test_small_rsa_keys_and_other_key_types_are_refused(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    small = tmp_path / "small.pub"
    small.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=1024)
                      .public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(KeyFileError, match="1024 bits; insurer keys must have at least 2048"):
        load_insurer_public_key(small)
    ed = tmp_path / "ed.pub"
    ed.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(KeyFileError, match="X25519 or RSA"):
        load_insurer_public_key(ed)


@pytest.mark.parametrize("alg", ["x25519", "rsa"])
def test_cli_hook_generates_a_key_pair(tmp_path, capsys, alg):
    parser = argparse.ArgumentParser(prog="dualrec-provision")
    add_insurer_key_parser(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "dev-insurer"
    args = parser.parse_args(["insurer-key", "generate", "--out", str(out),
                              "--algorithm", alg, "--bits", "2048"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    private = out / f"insurer-{alg}.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    public = load_insurer_public_key(out / f"insurer-{alg}.pub")
    assert fingerprint(public) in printed and str(private) in printed
    key = SessionKey.generate()
    assert unwrap(wrap(key, public), load_insurer_private_key(private)) == key
    assert args.func(args) == 2                      # never overwrites
    assert "exists already" in capsys.readouterr().err


def _self_signed(private) -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "insurer")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(private, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)
