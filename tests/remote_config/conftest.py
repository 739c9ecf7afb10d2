"""Keys of the back office (real Ed25519 keys made in the test) and a unit trusting one."""
from __future__ import annotations

from pathlib import Path

import pytest
from remote_config_unit import unit_config

from firmware.config.model import Config
from firmware.evidence.keys import DeviceKey


@pytest.fixture
def backoffice(tmp_path: Path) -> DeviceKey:
    return DeviceKey.load_or_create(tmp_path / "backoffice" / "backoffice.key")


@pytest.fixture
def intruder(tmp_path: Path) -> DeviceKey:
    return DeviceKey.load_or_create(tmp_path / "intruder" / "intruder.key")


@pytest.fixture
def unit(tmp_path: Path, backoffice: DeviceKey) -> Config:
    return unit_config(tmp_path / "unit", backoffice)
