"""Configuration bundles: the back office's signed configuration for the ``signed`` settings.

A bundle is a signed envelope (:mod:`firmware.protocol.signed_document`, the same back-office key and
trust as the staff roster)::

    {"format": "dualrec-config-bundle-v1", "key": FINGERPRINT, "signature": BASE64,
     "body": "{\\"serial\\": 7, ...}"}

whose ``body`` is a JSON text (signed as its exact UTF-8 bytes after the context
``dualrec-config-bundle-v1\\n``; configuration values include floats, which canonical JSON has
not) holding one object:

- ``serial``: integer ≥ 1; a unit accepts only a serial above the last one it accepted;
- ``issued``: ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), when the back office signed it;
- ``expires`` (optional): the same form; a unit refuses the bundle after it. It bounds when a
  bundle may be *accepted* (a late delivery is refused); an accepted configuration does not
  lapse;
- ``scope``: ``{"devices": [ids…], "branches": [codes…]}``, at least one of them not empty; a
  unit accepts the bundle if its id is among the devices or its ``[mqtt] branch`` among the
  branches;
- ``config``: ``{section: {key: value}}`` with ``signed`` and ``operational`` settings only
  (:mod:`firmware.config.model`), checked by the configuration model as a file would be.
- ``documents`` (optional): the manifest of the document library of the customer's screen,
  ``[{"sha256", "file", "title", "min_page_seconds"}, …]`` (:mod:`firmware.config.documents`).
  The PDFs travel beside the bundle; the unit takes each into its library only if it hashes to
  its SHA-256, and refuses the whole bundle while any is missing
  (:mod:`firmware.unit.document_delivery`). A bundle without ``documents`` leaves the library
  as it is.

Each bundle is the whole of the signed configuration: one that does not carry a key gives it
back to the unit's own file. A unit keeps the last bundle it accepted and checks it again at
every start (:mod:`firmware.unit.remote_config`).
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from firmware.config.documents import DocumentEntry, document_entries
from firmware.config.loading import parse_config
from firmware.config.model import OPERATIONAL, SIGNED, tier_problems
from firmware.errors import ConfigError
from firmware.evidence.keys import PublicKey
from firmware.protocol.signed_document import DocumentKind, sign_document, verify_document

BUNDLE_FORMAT = "dualrec-config-bundle-v1"
BUNDLE_CONTEXT = b"dualrec-config-bundle-v1\n"
MAX_BUNDLE_BYTES = 64 * 1024
MAX_SERIAL = 2**53
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DEVICE_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")
BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_BODY_KEYS = {"serial", "issued", "scope", "config"}
_OPTIONAL_KEYS = {"expires", "documents"}


class ConfigBundleError(ConfigError):
    """A configuration bundle is refused; the message says why."""


class BundleFormatError(ConfigBundleError):
    """Not a configuration bundle, or one whose body breaks the format's rules."""


class BundleSignatureError(ConfigBundleError):
    """Not signed by the configured back-office key, or changed after it was signed."""


class BundleRefusedError(ConfigBundleError):
    """A good bundle that this unit may not take: another unit's, expired, an old serial,
    encryption switched off."""


def _body_bytes(body: Any) -> bytes:
    if not isinstance(body, str):
        raise TypeError(f"the body must be a JSON text (a string), not {type(body).__name__}")
    return body.encode("utf-8")


CONFIG_BUNDLE = DocumentKind(
    what="configuration bundle", body_name="bundle", format=BUNDLE_FORMAT,
    context=BUNDLE_CONTEXT, body_field="body", body_bytes=_body_bytes,
    format_error=BundleFormatError, signature_error=BundleSignatureError,
    unsigned_hint="make one with `dualrec-provision config sign`")


def format_time(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime(TIME_FORMAT)


def _time(value: Any, name: str, source: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        raise BundleFormatError(f"{source}: {name} must be a UTC time YYYY-MM-DDTHH:MM:SSZ, got "
                                f"{repr(value)[:40]}") from None


def _names(value: Any, rx: re.Pattern, name: str, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 10_000 or not all(
            isinstance(v, str) and rx.fullmatch(v) for v in value):
        raise BundleFormatError(f"{source}: scope.{name} must be a list of {name[:-1]} names "
                                f"({rx.pattern})")
    return tuple(value)


@dataclass(frozen=True)
class ConfigBundle:
    """A configuration bundle whose body is well formed (its signature is checked by
    :func:`verify_config_bundle`, which is how a unit gets one)."""

    serial: int
    issued: dt.datetime
    expires: dt.datetime | None
    devices: tuple[str, ...]
    branches: tuple[str, ...]
    config: dict[str, dict[str, Any]]
    documents: tuple[DocumentEntry, ...] | None = None   # None: the library is left as it is

    @classmethod
    def from_body(cls, text: str, *, source: str = "bundle") -> "ConfigBundle":
        """The bundle in the body ``text``; BundleFormatError naming what is wrong."""
        try:
            body = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise BundleFormatError(f"{source}: the body is not JSON ({exc})") from None
        if not isinstance(body, dict):
            raise BundleFormatError(f"{source}: the body must be a JSON object")
        missing, extra = _BODY_KEYS - set(body), set(body) - _BODY_KEYS - _OPTIONAL_KEYS
        if missing or extra:
            raise BundleFormatError(f"{source}: the body needs the keys {sorted(_BODY_KEYS)} "
                                    f"(and may have {sorted(_OPTIONAL_KEYS)}); missing "
                                    f"{sorted(missing)}, unknown {sorted(extra)[:5]}")
        serial = body["serial"]
        if isinstance(serial, bool) or not isinstance(serial, int) \
                or not 1 <= serial <= MAX_SERIAL:
            raise BundleFormatError(f"{source}: serial must be an integer from 1 to {MAX_SERIAL}")
        issued = _time(body["issued"], "issued", source)
        expires = _time(body["expires"], "expires", source) if "expires" in body else None
        if expires is not None and expires < issued:
            raise BundleFormatError(f"{source}: expires ({body['expires']}) is before issued")
        scope = body["scope"]
        if not isinstance(scope, dict) or set(scope) - {"devices", "branches"}:
            raise BundleFormatError(f"{source}: scope must be {{\"devices\": [...], "
                                    "\"branches\": [...]}")
        devices = _names(scope.get("devices"), DEVICE_ID, "devices", source)
        branches = _names(scope.get("branches"), BRANCH, "branches", source)
        if not devices and not branches:
            raise BundleFormatError(f"{source}: scope names no device and no branch; a bundle "
                                    "is for named units or branches only")
        config = body["config"]
        if not isinstance(config, dict):
            raise BundleFormatError(f"{source}: config must be an object {{section: {{key: "
                                    "value}}}")
        check_bundle_config(config, source)
        documents = None
        if "documents" in body:
            documents, problems = document_entries(body["documents"], "documents")
            if problems:
                raise BundleFormatError(f"{source}: refused: " + "; ".join(problems))
        return cls(serial, issued, expires, devices, branches, config, documents)

    def check_for(self, device_id: str, branch: str, now: dt.datetime | None,
                  source: str = "bundle") -> None:
        """BundleRefusedError unless this unit (``device_id``, ``branch``) is in scope and,
        with ``now`` given, the bundle has not expired."""
        if device_id not in self.devices and not (branch and branch in self.branches):
            raise BundleRefusedError(
                f"{source}: refused: serial {self.serial} is for devices {list(self.devices)} "
                f"and branches {list(self.branches)}, not this unit ({device_id}, branch "
                f"{branch or 'none'})")
        if now is not None and self.expires is not None and now > self.expires:
            raise BundleRefusedError(f"{source}: refused: serial {self.serial} expired at "
                                     f"{format_time(self.expires)} (the unit's clock says "
                                     f"{format_time(now)})")


def check_bundle_config(config: dict[str, Any], source: str) -> None:
    """BundleFormatError unless ``config`` holds only signed and operational settings the
    model accepts; every problem is named at once."""
    problems = [f"[{s}] {k}: {why}" for s, k, why in tier_problems(config, (OPERATIONAL, SIGNED))]
    try:
        parse_config(config, source=f"{source} config")
    except ConfigError as exc:
        problems.append(str(exc))
    if problems:
        raise BundleFormatError(f"{source}: refused: " + "; ".join(problems))


def verify_config_bundle(raw: bytes, public_key: PublicKey, *,
                         source: str = "bundle") -> ConfigBundle:
    """The bundle in the signed file ``raw`` if ``public_key`` signed it and its body is well
    formed; scope, expiry and serial are the unit's to check (:meth:`ConfigBundle.check_for`)."""
    if len(raw) > MAX_BUNDLE_BYTES:
        raise BundleFormatError(f"{source}: {len(raw)} bytes; a bundle has at most "
                                f"{MAX_BUNDLE_BYTES}")
    body = verify_document(CONFIG_BUNDLE, raw, public_key, source=source)
    return ConfigBundle.from_body(body, source=source)


def sign_config_bundle(body: dict[str, Any], sign: Callable[[bytes], bytes],
                       public_key: PublicKey) -> bytes:
    """The signed bundle file for ``body`` (checked first, so the back office never signs a
    bundle the units would refuse for its form)."""
    text = json.dumps(body, ensure_ascii=False, sort_keys=True)
    ConfigBundle.from_body(text, source="the bundle to sign")
    envelope = sign_document(CONFIG_BUNDLE, text, sign, public_key)
    raw = (json.dumps(envelope, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if len(raw) > MAX_BUNDLE_BYTES:
        raise BundleFormatError(f"the signed bundle has {len(raw)} bytes; at most "
                                f"{MAX_BUNDLE_BYTES}")
    return raw
