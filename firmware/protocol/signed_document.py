"""Documents signed by the back office's Ed25519 key: the staff roster and configuration
bundles. One envelope, one way to sign it and one way to check it.

An envelope is a JSON object::

    {"format": FORMAT, "key": FINGERPRINT, "signature": BASE64, BODY_FIELD: BODY}

``signature`` is the Ed25519 signature of the back-office key over ``CONTEXT + body bytes``;
each kind of document has its own format name, context string and body field, so a signature
made for one kind never passes for another. How the body becomes bytes is the kind's own: the
roster signs the canonical JSON of its body (:mod:`firmware.evidence.canonical`), a configuration bundle
carries its body as a JSON text and signs exactly that text's UTF-8 bytes (configuration values
include floats, which canonical JSON does not have). ``key`` is the signer's fingerprint, a hint
for people; it is never trusted.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from firmware.errors import KeyFileError
from firmware.evidence.keys import PublicKey


@dataclass(frozen=True)
class DocumentKind:
    """One kind of signed document.

    ``body_bytes(body)`` gives the signed bytes of the body (TypeError or ValueError when it
    cannot be signed data); ``format_error`` and ``signature_error`` are the exception classes
    raised for it (each takes one message); ``unsigned_hint`` tells a person who handed over an
    unsigned document what to do.
    """

    what: str                    # "signed roster"
    body_name: str               # "roster", in messages
    format: str                  # "dualrec-signed-roster-v1"
    context: bytes               # b"dualrec-roster-v1\n"
    body_field: str              # "roster"
    body_bytes: Callable[[Any], bytes]
    format_error: type[Exception]
    signature_error: type[Exception]
    unsigned_hint: str

    @property
    def envelope_keys(self) -> set[str]:
        return {"format", "key", "signature", self.body_field}


def sign_document(kind: DocumentKind, body: Any, sign: Callable[[bytes], bytes],
                  public_key: PublicKey) -> dict[str, Any]:
    """The envelope of ``body`` signed with ``sign(message) -> signature``; the signature is
    checked against ``public_key`` before it is handed out (a mismatched key pair raises the
    kind's ``signature_error``)."""
    message = kind.context + kind.body_bytes(body)
    signature = sign(message)
    if not public_key.verify(signature, message):
        raise kind.signature_error("the signature just made does not verify under the given "
                                   "public key: the private and public key do not match")
    return {"format": kind.format, "key": public_key.fingerprint,
            "signature": base64.b64encode(signature).decode(), kind.body_field: body}


def read_envelope(kind: DocumentKind, raw: bytes, source: str) -> dict[str, Any]:
    """The envelope in ``raw``, its shape checked (not its signature)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise kind.format_error(f"{source}: not a {kind.what} (not JSON: {exc})") from None
    if not isinstance(data, dict) or set(data) != kind.envelope_keys:
        keys = sorted(map(str, data))[:8] if isinstance(data, dict) else type(data).__name__
        raise kind.format_error(f"{source}: not a {kind.what} (expected the keys "
                                f"{sorted(kind.envelope_keys)}, found {keys}); "
                                f"{kind.unsigned_hint}")
    if data["format"] != kind.format:
        raise kind.format_error(f"{source}: format is {str(data['format'])[:60]!r}, not "
                                f"{kind.format!r}")
    return data


def verify_document(kind: DocumentKind, raw: bytes, public_key: PublicKey, *,
                    source: str) -> Any:
    """The body of the envelope ``raw`` if ``public_key`` signed it; the kind's
    ``signature_error`` for an edited body or another key's signature, its ``format_error``
    for anything that is not such an envelope."""
    data = read_envelope(kind, raw, source)
    try:
        signature = base64.b64decode(data["signature"], validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise kind.format_error(f"{source}: the signature is not base64") from None
    try:
        body_bytes = kind.body_bytes(data[kind.body_field])
    except (TypeError, ValueError) as exc:
        raise kind.format_error(f"{source}: the {kind.body_name} body cannot be signed data: "
                                f"{exc}") from None
    if not public_key.verify(signature, kind.context + body_bytes):
        if data["key"] != public_key.fingerprint:
            raise kind.signature_error(
                f"{source}: refused: signed by another key (fingerprint "
                f"{str(data['key'])[:40]!r}), not the configured back-office key "
                f"{public_key.fingerprint}")
        raise kind.signature_error(f"{source}: refused: the signature does not match the "
                                   f"{kind.body_name}; it was changed after the back office "
                                   "signed it")
    return data[kind.body_field]


def read_public_key(value: str) -> PublicKey:
    """The back-office public key from ``value``: the path of a file holding its base64 (as
    ``dualrec-provision roster keygen`` writes it), or the base64 text itself (as in the
    configuration). Raises ``KeyFileError`` saying what is wrong."""
    path = Path(value)
    if len(value) != 44 or path.exists():
        try:
            value = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"{path}: cannot read the back-office public key "
                               f"({getattr(exc, 'strerror', None) or exc}); give the file "
                               "written by `dualrec-provision roster keygen` or its base64 "
                               "text") from None
    return PublicKey.from_b64(value)
