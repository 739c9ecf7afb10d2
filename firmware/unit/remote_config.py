"""The unit's remote configuration: what operators and the back office changed from afar.

Two layers over the unit's own configuration file, kept in ``SPOOL/state/`` (written
atomically and fsync'd):

- ``desired-config.json``: the operators' last accepted ``set-config``,
  ``{"v": 1, "version": N, "desired": {section: {key: value}}}``, operational settings only;
- ``config-bundle.json``: the last configuration bundle the back office signed and the unit
  accepted (:mod:`firmware.config.bundle`), ``{"v": 1, "highest_serial": N, "bundle": TEXT}``
  with the signed file kept verbatim, so it is checked again at every load.

The effective configuration is the file, then the bundle, then the set-config
(:func:`with_desired_config`, at every start: changes take effect at the next restart). Each
layer is checked again whenever it is loaded, as if it had just arrived: a ``desired-config.json``
holding anything but operational settings (it was changed outside the unit), or a bundle that no
longer verifies under the configured back-office key or is another unit's, is refused loudly —
logged as an error, named in ``config/reported`` and on the chain — and ignored whole, never
half-applied. An insurer key given inline (PEM text) by a bundle is written to
``state/config/insurer-<sha256>.pem`` and the effective configuration names that file.
A bundle that carries the manifest of the customer's screen's documents has their PDFs taken
into the library at ``[display] documents`` as it is accepted, each checked by its SHA-256, and
the library's manifest kept as the bundle signs it at every start
(:mod:`firmware.unit.document_delivery`).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.config.loading import parse_config, replace
from firmware.config.bundle import BundleRefusedError, ConfigBundle, verify_config_bundle
from firmware.config.model import OPERATIONAL, Config, Origin, related_problems, tier_problems
from firmware.unit.config_record import config_summary
from firmware.unit.document_delivery import deliver_documents, keep_library
from firmware.evidence.crypto.insurer_keys import load_insurer_public_key
from firmware.evidence.durable import ensure_dir, read_regular, write_atomic
from firmware.errors import ConfigError, DualrecError, KeyFileError
from firmware.evidence.store import default_device_id
from firmware.evidence.keys import DeviceKey, PublicKey
from firmware.unit.session.script import SCRIPTS_DIR, load_templates
from firmware.protocol.signed_document import read_public_key
from firmware.evidence.spool import Spool

log = logging.getLogger(__name__)

OPERATIONAL_FILE = "desired-config.json"
BUNDLE_FILE = "config-bundle.json"
KEYS_DIR = "config"
MAX_STATE_BYTES = 256 * 1024
APPLIES = "at the next restart"
PEM_START = "-----BEGIN"


class RemoteConfigError(ConfigError):
    """A remote configuration change is refused; the message names each key and why."""


@dataclass(frozen=True)
class Layers:
    """The remote layers as loaded and checked: the set-config (operational settings) and its
    version, the bundle, and what was refused while loading."""

    operational: dict[str, dict[str, Any]] = field(default_factory=dict)
    operational_version: int = 0
    bundle: ConfigBundle | None = None
    highest_serial: int = 0
    refused: tuple[str, ...] = ()


def operational_problems(desired: dict[str, Any]) -> list[str]:
    """What in ``desired`` a set-config may not carry: settings that are not operational, and
    anything the configuration model refuses (unknown keys, wrong types, out of range)."""
    problems = [f"[{s}] {k}: {why}" for s, k, why in tier_problems(desired, (OPERATIONAL,))]
    try:
        parse_config(desired, source="set-config")
    except ConfigError as exc:
        problems.append(str(exc))
    return problems


def _overlay(config: Config, changes: dict[str, dict[str, Any]], source: str) -> Config:
    parsed = parse_config(changes, source=source)   # values coerced as the model wants them
    return replace(config, **{name: {key: getattr(getattr(parsed, name), key) for key in values}
                              for name, values in changes.items()})


def _device_id(config: Config) -> str | None:
    if config.device.id:
        return config.device.id
    try:
        return default_device_id(DeviceKey.load(config.device.key_file))
    except (OSError, KeyFileError):
        return None


class RemoteConfig:
    """The remote layers of one unit. ``base`` is the unit's own configuration (file and
    defaults); ``trust`` the back-office public key (None: bundles are refused, and
    ``trust_problem`` says why)."""

    def __init__(self, state_dir: Path, base: Config, *, device_id: str | None, branch: str,
                 trust: PublicKey | None, trust_problem: str = "") -> None:
        self.state_dir = Path(state_dir)
        self.base = base
        self.device_id = device_id
        self.branch = branch
        self.trust = trust
        self.trust_problem = trust_problem or ("no back-office key is configured ([people] "
                                               "backoffice_public_key)")

    @classmethod
    def for_unit(cls, config: Config, *, device_id: str | None = None) -> "RemoteConfig":
        """The remote layers of the unit running ``config`` (an effective configuration or its
        base); ``device_id`` when known (else from ``[device] id`` or the device key)."""
        base = config.origin.base or config
        trust, problem = None, ""
        if base.people.backoffice_public_key:
            try:
                trust = read_public_key(base.people.backoffice_public_key)
            except KeyFileError as exc:
                problem = f"the back-office key cannot be read ({exc})"
        return cls(Spool(base.spool.path).state_dir, base,
                   device_id=device_id or _device_id(base), branch=base.mqtt.branch,
                   trust=trust, trust_problem=problem)

    # -- loading -------------------------------------------------------------------------------
    def _read(self, name: str, refused: list[str]) -> Any:
        path = self.state_dir / name
        try:
            return json.loads(read_regular(path, MAX_STATE_BYTES))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:
            refused.append(f"{path}: unreadable ({exc}); ignored")
            return None

    def _load_operational(self, refused: list[str]) -> tuple[dict, int]:
        data = self._read(OPERATIONAL_FILE, refused)
        if data is None:
            return {}, 0
        path = self.state_dir / OPERATIONAL_FILE
        version = data.get("version") if isinstance(data, dict) else None
        desired = data.get("desired") if isinstance(data, dict) else None
        if isinstance(version, bool) or not isinstance(version, int) or version < 1 \
                or not isinstance(desired, dict):
            refused.append(f"{path}: not {{version, desired}}; ignored")
            return {}, 0
        problems = operational_problems(desired)
        if problems:
            refused.append(f"{path}: refused, set-config version {version} is ignored whole: "
                           + "; ".join(problems))
            return {}, 0
        return desired, version

    def _load_bundle(self, refused: list[str]) -> tuple[ConfigBundle | None, int]:
        data = self._read(BUNDLE_FILE, refused)
        if data is None:
            return None, 0
        path = self.state_dir / BUNDLE_FILE
        highest = data.get("highest_serial") if isinstance(data, dict) else None
        highest = highest if isinstance(highest, int) and not isinstance(highest, bool) else 0
        text = data.get("bundle") if isinstance(data, dict) else None
        if not isinstance(text, str):
            refused.append(f"{path}: holds no bundle; ignored")
            return None, highest
        if self.trust is None:
            refused.append(f"{path}: a configuration bundle is stored but {self.trust_problem}; "
                           "ignored")
            return None, highest
        try:
            bundle = verify_config_bundle(text.encode("utf-8"), self.trust, source=str(path))
            if self.device_id is None:
                raise BundleRefusedError(f"{path}: this unit's id is not known (no [device] id "
                                         "and no device key yet)")
            bundle.check_for(self.device_id, self.branch, None, source=str(path))
        except ConfigError as exc:
            refused.append(f"{exc}; ignored")
            return None, highest
        return bundle, max(highest, bundle.serial)

    def layers(self, *, log_refusals: bool = False) -> Layers:
        """The layers stored now, each checked again; refused ones are left out (and named)."""
        refused: list[str] = []
        operational, version = self._load_operational(refused)
        bundle, highest = self._load_bundle(refused)
        if log_refusals:
            for why in refused:
                log.error("remote configuration refused: %s", why)
        return Layers(operational, version, bundle, highest, tuple(refused))

    # -- composing -----------------------------------------------------------------------------
    def _materialize(self, changes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """``changes`` with an inline insurer key (PEM text) replaced by the file holding it."""
        pem = changes.get("encryption", {}).get("insurer_public_key", "")
        if not isinstance(pem, str) or not pem.lstrip().startswith(PEM_START):
            return changes
        data = pem.encode("utf-8")
        path = (self.state_dir / KEYS_DIR /
                f"insurer-{hashlib.sha256(data).hexdigest()[:16]}.pem")
        try:
            if read_regular(path, MAX_STATE_BYTES) == data:
                return {**changes, "encryption": {**changes["encryption"],
                                                  "insurer_public_key": str(path)}}
        except (OSError, ValueError):
            pass  # not there yet, or not as it should be: written again
        try:
            ensure_dir(path.parent)
            write_atomic(path, data, 0o644)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write the insurer key of the configuration "
                              f"bundle ({exc}); the unit does not start without it") from None
        return {**changes, "encryption": {**changes["encryption"],
                                          "insurer_public_key": str(path)}}

    def compose(self, layers: Layers) -> Config:
        """The effective configuration: the base, then the bundle, then the set-config."""
        config = self.base
        if layers.bundle is not None:
            config = _overlay(config, self._materialize(layers.bundle.config),
                              f"bundle serial {layers.bundle.serial}")
        if layers.operational:
            config = _overlay(config, layers.operational,
                              f"set-config version {layers.operational_version}")
        return dataclasses.replace(config, origin=Origin(
            base=self.base, bundle_serial=layers.bundle.serial if layers.bundle else 0,
            operational_version=layers.operational_version,
            refused=layers.refused))

    # -- accepting -----------------------------------------------------------------------------
    def _store(self, name: str, value: dict[str, Any]) -> None:
        ensure_dir(self.state_dir)
        write_atomic(self.state_dir / name,
                     json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8"))

    def accept_operational(self, desired: dict[str, Any], version: int) -> Config:
        """Keep an operator's set-config (operational settings only) for the next start; the
        configuration it will give. RemoteConfigError names every key refused and why."""
        problems = operational_problems(desired)
        if problems:
            raise RemoteConfigError("; ".join(problems))
        layers = self.layers()
        if version < layers.operational_version:
            raise RemoteConfigError(f"set-config version {version} is older than the accepted "
                                    f"version {layers.operational_version}")
        candidate = self.compose(dataclasses.replace(layers, operational=desired,
                                                     operational_version=version))
        self._store(OPERATIONAL_FILE, {"v": 1, "version": version, "desired": desired})
        return candidate

    def accept_bundle(self, raw: bytes, *, now: dt.datetime, running: Config | None = None,
                      documents_from: Path | None = None) -> ConfigBundle:
        """Check a configuration bundle as it arrives and keep it for the next start.

        Refused (a :class:`~firmware.config.bundle.ConfigBundleError` saying why): no
        back-office key, a bad signature, a malformed body or a ``local`` setting, another
        unit's bundle, an expired one, a serial not above the highest accepted, an insurer key
        emptied where the unit encrypts now (``running``) or would after its next start, or a
        configuration the unit could not run (insurer key or script template missing), or
        documents it signs that are neither in the library nor given in ``documents_from`` (a
        directory of PDFs) with the bytes it signs; those given are taken into the library
        before the bundle is kept."""
        if self.trust is None:
            raise BundleRefusedError(f"bundle: refused: {self.trust_problem}: this unit accepts "
                                     "no configuration bundles")
        bundle = verify_config_bundle(raw, self.trust, source="bundle")
        if self.device_id is None:
            raise BundleRefusedError("bundle: refused: this unit's id is not known yet")
        bundle.check_for(self.device_id, self.branch, now)
        layers = self.layers()
        if bundle.serial <= layers.highest_serial:
            raise BundleRefusedError(f"bundle: refused: serial {bundle.serial} is not above the "
                                     f"highest accepted serial {layers.highest_serial} (a "
                                     "replayed or older bundle)")
        candidate = self.compose(dataclasses.replace(layers, bundle=bundle))
        for before in (self.compose(layers), running):
            if before is not None and before.encryption.insurer_public_key \
                    and not candidate.encryption.insurer_public_key:
                raise BundleRefusedError(
                    f"bundle: refused: serial {bundle.serial} would switch encryption off "
                    "([encryption] insurer_public_key empty); once configured, encryption is "
                    "never switched off remotely: a bundle may replace the insurer key, never "
                    "empty it")
        check_runnable(candidate, f"bundle serial {bundle.serial}")
        if bundle.documents is not None:
            deliver_documents(bundle.documents, Path(candidate.display.documents),
                              documents_from, serial=bundle.serial)
        self._store(BUNDLE_FILE, {"v": 1, "highest_serial": bundle.serial,
                                  "bundle": raw.decode("utf-8")})
        return bundle

    def status(self, running: Config) -> dict[str, Any]:
        """For ``config/reported``: what runs (``effective``), what was accepted and takes
        effect at the next restart (``accepted``), whether they differ (``pending``), and what
        stored remote configuration is refused."""
        layers = self.layers()
        sha, _values = config_summary(running)
        effective = {"sha256": sha, "set_config_version": running.origin.operational_version,
                     "bundle_serial": running.origin.bundle_serial}
        accepted = {"set_config_version": layers.operational_version,
                    "bundle_serial": layers.bundle.serial if layers.bundle else 0}
        pending = any(effective[k] != accepted[k] for k in accepted)
        return {"effective": effective, "accepted": accepted, "pending": pending,
                "applies": APPLIES, "refused": list(layers.refused)}


def check_runnable(config: Config, what: str) -> None:
    """BundleRefusedError unless the unit could start with ``config``: the insurer key loads,
    the script template exists, the roster file is there, settings that depend on each other
    agree (:func:`~firmware.config.model.related_problems`: a bundle that turns ``[meet]`` on
    over the unit's own 44.1 kHz audio is refused, as the file itself would be)."""
    problems = []
    if config.encryption.insurer_public_key:
        try:
            load_insurer_public_key(config.encryption.insurer_public_key)
        except (KeyFileError, OSError) as exc:
            problems.append(f"[encryption] insurer_public_key: {exc}")
    try:
        templates = load_templates(config.session.scripts_dir or SCRIPTS_DIR)
        if config.session.template not in templates:
            problems.append(f"[session] template {config.session.template!r} is not among the "
                            f"scripts ({', '.join(sorted(templates)) or 'none'})")
    except (DualrecError, OSError, ValueError) as exc:
        problems.append(f"[session] scripts_dir: {exc}")
    if config.people.roster_file and not os.path.isfile(config.people.roster_file):
        problems.append(f"[people] roster_file {config.people.roster_file}: no such file")
    problems += [f"[{section}] {key}: {why}" for section, key, why in related_problems(config)]
    if problems:
        raise BundleRefusedError(f"bundle: refused: the unit could not run {what}: "
                                 + "; ".join(problems))


def with_desired_config(config: Config) -> Config:
    """The effective configuration: ``config`` (the unit's file) with the accepted signed
    bundle and the operators' set-config laid over it, each checked again; what is refused is
    logged as an error and left out (``config.origin.refused`` names it). The document library's
    manifest is written again from the accepted bundle when it says anything else."""
    remote = RemoteConfig.for_unit(config)
    layers = remote.layers(log_refusals=True)
    effective = remote.compose(layers)
    if layers.bundle is not None:
        try:
            for change in keep_library(layers.bundle, Path(effective.display.documents)):
                log.warning("document library: %s", change)
        except OSError as exc:
            log.error("document library %s cannot be kept as bundle serial %d signs it (%s); "
                      "documents it cannot show refuse their reading nodes",
                      effective.display.documents, layers.bundle.serial, exc)
    return effective


__all__ = ["APPLIES", "Layers", "RemoteConfig", "RemoteConfigError",
           "check_runnable", "operational_problems", "with_desired_config"]
