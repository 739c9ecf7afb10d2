"""A unit's configuration with a back-office key, and bundles signed for it, for the tests of
remote configuration (tests/remote_config, tests/fleet/test_remote_config_e2e.py)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from firmware.config.loading import load_config, replace
from firmware.config.bundle import format_time, sign_config_bundle
from firmware.config.model import Config
from firmware.evidence.crypto import generate_insurer_key
from firmware.evidence.keys import DeviceKey

DEVICE = "dr-unit-a"
BRANCH = "0451"
SESSION_SCRIPTS = Path(__file__).resolve().parents[1] / "session" / "scripts"


def insurer_public_key(root: Path, name: str) -> Path:
    """A development insurer key pair under ``root/name``; the public PEM's path."""
    out = root / name
    if not (out / "insurer-x25519.pub").exists():
        generate_insurer_key(out, "x25519")
    return out / "insurer-x25519.pub"


def unit_config(root: Path, backoffice: DeviceKey, *, encrypted: bool = True,
                **sections: dict[str, Any]) -> Config:
    """A simulated unit under ``root``: device ``dr-unit-a`` of branch 0451, trusting
    ``backoffice``, media encrypted to a development insurer key (``encrypted``)."""
    config = replace(
        load_config(), drivers={"backend": "sim"},
        device={"id": DEVICE, "key_file": str(root / "keys" / "device.key")},
        spool={"path": str(root / "spool"), "min_free_mb": 16},
        speech={"cache_dir": str(root / "speech")},
        camera={"width": 320, "height": 240, "fps": 15, "bitrate": 300_000},
        session={"template": "quick", "scripts_dir": str(SESSION_SCRIPTS)},
        control={"socket": ""}, people={"backoffice_public_key": backoffice.public.b64},
        mqtt={"branch": BRANCH},
        encryption={"insurer_public_key": str(insurer_public_key(root, "insurer-a"))
                    if encrypted else ""})
    return replace(config, **sections) if sections else config


def make_bundle(key: DeviceKey, config: dict[str, Any], serial: int, *,
                devices: tuple[str, ...] = (DEVICE,), branches: tuple[str, ...] = (),
                expires: dt.datetime | None = None,
                issued: dt.datetime | None = None) -> bytes:
    """A bundle signed by ``key``."""
    body: dict[str, Any] = {
        "serial": serial,
        "issued": format_time(issued or dt.datetime.now(dt.timezone.utc)),
        "scope": {"devices": list(devices), "branches": list(branches)}, "config": config}
    if expires is not None:
        body["expires"] = format_time(expires)
    return sign_config_bundle(body, key.sign, key.public)
